"""The model of one DAG: what a kind plans, and all that the template, the run plan, the docs,
the graph and the cache read.

A kind builds one frozen `Dag` per DAG file (an `EntityDag`, `ManifestDag` or `ReductionDag`):
its arguments, trigger-form params, task settings and typed `Task`s. Nothing writes into it
afterwards; what the project adds across specs (Assets, outlets, an Asset schedule) is a
`Wiring` kept beside it (compiler.artifacts).

A task's `arguments` are those of its runtime step (plugins/dagspec_runtime), as the operator
passes them on; the template writes them as the operator's keyword arguments and the run plan
passes them to the same step. What the operator would choose itself is left out, so its
defaults live in the operator alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from compiler.render import Code

__all__ = [
    "Arguments",
    "Dag",
    "EntityDag",
    "Group",
    "ManifestDag",
    "Module",
    "NotifyCode",
    "Param",
    "Phase",
    "ReductionDag",
    "Step",
    "Task",
    "Wiring",
]


@dataclass(frozen=True)
class Param:
    """One trigger-form field: `Param(default, **options)`."""

    name: str
    default: Any
    options: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class NotifyCode:
    """Notifications as the templates write them: the NOTIFY constant, DAG arguments, the
    retry hook (already in the DAG's `default_args`)."""

    define: Code
    dag_args: tuple[tuple[str, Code], ...]
    retry: Code | None


@dataclass(frozen=True)
class Arguments:
    """The `DAG(...)` arguments every kind states."""

    description: str
    schedule: str | None
    catchup: bool
    start_date: tuple[int, int, int]
    max_active_runs: int
    tags: tuple[str, ...]
    default_args: Code  # the project's and spec's task settings, as code
    paused: bool | None = None  # is_paused_upon_creation, when the spec says


@dataclass(frozen=True)
class Task:
    """One task: its id (with its group's prefix), operator, the arguments of its runtime step,
    its settings and the tasks it waits for."""

    task_id: str
    operator: str
    call: str  # the runtime step a run plan names (dagspec_runtime.calls)
    group: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    #: task settings from the project down to the task (retries, pool, ...), schema names
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: settings the operator chooses itself when none is stated (a run plan applies them too)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    upstream: tuple[str, ...] = ()
    trigger_rule: str | None = None
    rooted: bool = True  # the step takes the project root
    inline: bool = False  # a run plan runs it in the runner's own thread
    mapped_over: str | None = None  # the discover task whose sub-groups it is mapped over
    max_active: int | None = None  # mapped instances at once
    var: str = ""  # the Python name the template gives it
    #: Airflow arguments stated beyond the DAG's default_args, as code
    airflow_args: tuple[tuple[str, Code], ...] = ()
    description: str | None = None  # what the spec says the task does

    @property
    def name(self) -> str:
        """The id inside its group."""
        return self.task_id.split(".", 1)[1] if self.group else self.task_id


@dataclass(frozen=True)
class Dag:
    """What every DAG has: id, the file's docstring, arguments, params, settings and tasks."""

    dag_id: str
    kind: str
    docstring: str
    arguments: Arguments
    params: tuple[Param, ...]
    settings: Mapping[str, Any]  # the DAG's task settings (project, then spec)
    tasks: tuple[Task, ...]
    sdk_imports: tuple[str, ...]  # from airflow.sdk, before the wiring adds its own
    timedelta: bool  # some setting is a duration
    notify: NotifyCode | None
    storage: str | None

    @property
    def owner(self) -> Any:
        return self.settings.get("owner")

    def task(self, task_id: str) -> Task:
        return next(t for t in self.tasks if t.task_id == task_id)

    def edges(self) -> list[tuple[str, str]]:
        """(upstream, task) for every dependency, in task order."""
        return [(u, t.task_id) for t in self.tasks for u in t.upstream]


@dataclass(frozen=True)
class Phase:
    """An entity phase: a TaskGroup of modules in parallel, then its gate."""

    name: str
    var: str
    tooltip: str
    description: str | None
    modules: tuple[Module, ...]
    gate: Task


@dataclass(frozen=True)
class Module:
    """A module task and what the phase gate and the docs know of it."""

    task: Task
    required: bool
    outputs: tuple[str, ...]
    doc: Code  # its doc_md literal


@dataclass(frozen=True)
class EntityDag(Dag):
    entity: str
    pool: str | None  # the modules' one pool, or None when modules name their own
    phases: tuple[Phase, ...]
    prepare: Task
    promote: Task
    result: Task


@dataclass(frozen=True)
class ManifestDag(Dag):
    process: Mapping[str, Any]  # the process as the gates see it
    meta_conn_id: str
    meta_sqlite_path: str
    #: retries and delay the gates state because they differ from the operator's own choice
    gate_args: tuple[tuple[str, Code], ...]

    @property
    def gates(self) -> tuple[str, ...]:
        return tuple(t.task_id for t in self.tasks)


@dataclass(frozen=True)
class Step:
    """A reduction step inside its mapped task group."""

    task: Task
    after: tuple[str, ...]  # the variables of the steps of its group it waits for
    config: Mapping[str, Any]  # the step as STEPS holds it


@dataclass(frozen=True)
class Group:
    """A mapped task group: the steps sharing one `group_by`, expanded over sub-groups."""

    group_id: str
    func: str
    result: str
    group_by: tuple[str, ...]
    discover: Task
    steps: tuple[Step, ...]
    after: tuple[str, ...]  # result variables of the groups it runs after

    def tasks(self) -> tuple[Task, ...]:
        return tuple(s.task for s in self.steps)

    @property
    def wired(self) -> frozenset[str]:
        """Variables of the steps another step of the group waits for."""
        return frozenset(v for s in self.steps for v in s.after)


@dataclass(frozen=True)
class ReductionDag(Dag):
    continuous: bool
    poll_seconds: int
    priority: int
    pipeline: Mapping[str, Any]
    steps: Mapping[str, Mapping[str, Any]]
    meta_conn_id: str
    meta_sqlite_path: str
    partition: str | None
    account: str | None
    products_root: str
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Wiring:
    """What the project adds to one DAG across specs (compiler.artifacts): Asset definitions,
    outlets per task, and the schedule when the DAG waits for other DAGs' outputs."""

    asset_defs: tuple[Code, ...] = ()
    outlets: Mapping[str, Code] = field(default_factory=dict)
    sdk_imports: tuple[str, ...] = ()  # more names from airflow.sdk
    schedule: Code | None = None  # replaces the DAG's own schedule
