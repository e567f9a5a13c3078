"""The run plan as the fast path reads it: a DAG's tasks as plain data.

The compiler makes the plan from its analysis of a spec (``compiler/run_plan.py``) and hands it
over as data (``Plan.from_data``): every task with the name of its runtime step
(``dagspec_runtime.calls``), the step's keyword arguments, its upstream tasks, trigger rule,
retries, pool, priority and timeout. ``local_scheduler.Scheduler`` runs it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ALL_SUCCESS, ALL_DONE = "all_success", "all_done"
DEFAULT_RETRY_DELAY = 300.0  # Airflow's default retry_delay
MAX_RETRY_DELAY = 24 * 60 * 60  # Airflow's [core] max_task_retry_delay


@dataclass
class Task:
    """One task of a run plan (or one instance of a mapped task: ``map_index`` >= 0)."""

    task_id: str
    call: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    upstream: list[str] = field(default_factory=list)
    trigger_rule: str = ALL_SUCCESS
    retries: int = 0
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY
    retry_exponential_backoff: bool | float = False  # Airflow 3.3: a multiplier; true is 2
    pool: str | None = None
    priority_weight: int = 1
    execution_timeout_seconds: float | None = None
    inline: bool = False  # run in the main thread (so an interrupt reaches the step itself)
    map_over: str | None = None  # expand over the list this task returned
    map_arg: str = "sub_group"
    map_index: int = -1
    max_active: int | None = None

    @property
    def key(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    @property
    def max_attempts(self) -> int:
        return 1 + max(0, int(self.retries))

    def delay_before(self, attempt: int, jitter_key: str = "") -> float:
        """Seconds to wait before try ``attempt`` (2, 3, ...): Airflow 3.3's formula
        (``TaskInstance.next_retry_datetime``). With a backoff multiplier m, the try that failed
        (``attempt - 1``) waits at least ceil(delay * m ** (attempt - 2)) s, at least 1 s, plus a
        jitter below that, fixed per try by a hash of ``jitter_key`` (Airflow hashes
        ``dag_id#task_id#logical_date#try_number``); capped at 24 h."""
        delay = float(self.retry_delay_seconds)
        multiplier = backoff_multiplier(self.retry_exponential_backoff)
        if multiplier == 1.0 or multiplier <= 0:
            return delay
        try:
            least = math.ceil(delay * multiplier ** (attempt - 2))
        except OverflowError:
            least = MAX_RETRY_DELAY
        least = max(1, least)
        digest = hashlib.sha1(f"{jitter_key}#{attempt - 1}".encode(), usedforsecurity=False)
        return float(min(least + int(digest.hexdigest(), 16) % least, MAX_RETRY_DELAY))


@dataclass
class Plan:
    """What to run: the DAG's tasks (in definition order), params and pools."""

    dag_id: str
    kind: str
    tasks: list[Task]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> default, schema
    pools: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            dag_id=data["dag_id"],
            kind=data["kind"],
            tasks=[Task(**task) for task in data["tasks"]],
            params={k: dict(v) for k, v in (data.get("params") or {}).items()},
            pools={k: int(v) for k, v in (data.get("pools") or {}).items()},
        )

    def leaves(self) -> list[str]:
        """Task ids no other task depends on (they decide the run's state, as in Airflow)."""
        upstream = {u for task in self.tasks for u in task.upstream}
        return [t.task_id for t in self.tasks if t.task_id not in upstream]

    def weights(self) -> dict[str, int]:
        """Each task's effective priority: its own weight plus all its downstream tasks'."""
        below: dict[str, set[str]] = {t.task_id: set() for t in self.tasks}
        for task in self.tasks:
            for u in task.upstream:
                below.setdefault(u, set()).add(task.task_id)
        own = {t.task_id: int(t.priority_weight) for t in self.tasks}
        memo: dict[str, set[str]] = {}

        def downstream(task_id: str) -> set[str]:
            if task_id not in memo:
                found: set[str] = set()
                for child in below.get(task_id, ()):
                    found |= {child} | downstream(child)
                memo[task_id] = found
            return memo[task_id]

        return {t: own[t] + sum(own.get(d, 0) for d in downstream(t)) for t in own}


def backoff_multiplier(value: bool | float | None) -> float:
    """Airflow 3.3's ``retry_exponential_backoff`` as a multiplier (true: 2; 0 or false: 1)."""
    if isinstance(value, bool):
        return 2.0 if value else 1.0
    return float(value) if value else 1.0
