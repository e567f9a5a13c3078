"""The fast runner's scheduling rules: parallel up to the pool, Airflow's trigger rules,
retries with their delay and backoff. Steps here are small Python functions (the entity and
ETL steps are exercised end to end in test_run_paths.py and test_run_report.py)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dagspec_runtime.errors import StepFailed, StepSkipped
from dagspec_runtime.executor import Plan, RunContext, run_plan


def plan(*tasks: dict[str, Any], pools: dict[str, int] | None = None) -> Plan:
    return Plan.from_data({"dag_id": "t", "kind": "Entity", "tasks": list(tasks),
                           "pools": pools or {}})


def context() -> RunContext:
    return RunContext("run-1", {}, logging.getLogger("test-executor"))


class Recorder:
    """Steps that sleep, fail or skip, and record how many ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.tries: dict[str, list[float]] = {}

    def sleep(self, run: RunContext, name: str, seconds: float = 0.3) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(seconds)
        with self.lock:
            self.now -= 1
        return name

    def fail(self, run: RunContext, name: str, times: int = 99, retry: bool = True) -> str:
        self.tries.setdefault(name, []).append(time.monotonic())
        if len(self.tries[name]) <= times:
            raise StepFailed(f"{name} failed", retry=retry)
        return name

    def skip(self, run: RunContext) -> None:
        raise StepSkipped("nothing to do")

    def steps(self) -> dict[str, Any]:
        return {"sleep": self.sleep, "fail": self.fail, "skip": self.skip}


def task(task_id: str, call: str, upstream: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    kwargs = extra.pop("kwargs", {"name": task_id} if call != "skip" else {})
    return {"task_id": task_id, "call": call, "kwargs": kwargs, "upstream": list(upstream),
            **extra}


def test_independent_tasks_run_in_parallel_up_to_the_pool() -> None:
    rec = Recorder()
    tasks = [task(f"m{i}", "sleep", pool="p") for i in range(6)]
    started = time.monotonic()
    out = run_plan(plan(*tasks, pools={"p": 3}), rec.steps(), context())
    took = time.monotonic() - started
    assert all(o.state == "success" for o in out.values())
    assert rec.peak == 3
    assert took < 6 * 0.3  # two waves of three, not six one after another


def test_trigger_rules_follow_airflow() -> None:
    rec = Recorder()
    out = run_plan(plan(
        task("bad", "fail", kwargs={"name": "bad", "retry": False}),
        task("after_bad", "sleep", ("bad",)),
        task("skipper", "skip"),
        task("after_skip", "sleep", ("skipper",)),
        task("gate", "sleep", ("bad", "after_bad"), trigger_rule="all_done"),
    ), rec.steps(), context())
    states = {k: o.state for k, o in out.items()}
    assert states == {"bad": "failed", "after_bad": "upstream_failed", "skipper": "skipped",
                      "after_skip": "skipped", "gate": "success"}
    assert out["bad"].error == "bad failed" and out["bad"].attempts == 1


def test_retries_wait_their_delay_with_exponential_backoff() -> None:
    rec = Recorder()
    out = run_plan(plan(task("flaky", "fail", kwargs={"name": "flaky", "times": 2}, retries=3,
                             retry_delay_seconds=0.2, retry_exponential_backoff=True)),
                   rec.steps(), context())
    assert out["flaky"].state == "success" and out["flaky"].attempts == 3
    tries = rec.tries["flaky"]
    waits = [b - a for a, b in zip(tries, tries[1:], strict=False)]
    assert 0.2 <= waits[0] < 0.4 and 0.4 <= waits[1] < 0.7  # 0.2 s, then doubled


def test_retries_run_out_and_a_refusal_is_not_retried() -> None:
    rec = Recorder()
    out = run_plan(plan(
        task("always", "fail", retries=2, retry_delay_seconds=0.05),
        task("refused", "fail", kwargs={"name": "refused", "retry": False}, retries=2,
             retry_delay_seconds=0.05),
    ), rec.steps(), context())
    assert (out["always"].state, out["always"].attempts, out["always"].max_attempts) == (
        "failed", 3, 3)
    assert (out["refused"].state, out["refused"].attempts) == ("failed", 1)
