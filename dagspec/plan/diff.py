"""The semantic difference of two project descriptions, per DAG.

DAGs are matched by id; a removed and an added DAG from the same spec file, or else with the
same task shape, are one DAG renamed. Inside a DAG, tasks are matched by id; a removed and an
added task of the same group and operator whose arguments are alike are one task renamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dagspec.plan.description import DagDescription, ProjectDescription, TaskDescription
from dagspec.plan.values import UNSET, flatten

ADDED, REMOVED, RENAMED, CHANGED = "added", "removed", "renamed", "changed"


@dataclass(frozen=True)
class Change:
    """One leaf value that differs: `old` or `new` is UNSET where a side does not have it."""

    path: str
    old: Any = UNSET
    new: Any = UNSET

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path}
        if self.old is not UNSET:
            data["old"] = self.old
        if self.new is not UNSET:
            data["new"] = self.new
        return data


@dataclass(frozen=True)
class TaskPlan:
    task_id: str
    status: str
    operator: str
    group: str | None = None
    renamed_from: str | None = None
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True, order=True)
class Link:
    """An Asset between two DAGs: `producer`'s task `task` writes `path`, `consumer` waits."""

    path: str
    producer: str
    task: str
    consumer: str


@dataclass(frozen=True)
class Risk:
    code: str
    message: str
    task_id: str | None = None


@dataclass
class DagPlan:
    """What changes for one DAG. `new_version`: Airflow stores a new version of an existing
    DAG (something it serializes changed); `version_from_docs`: only its documentation makes
    that so; `doc_only`: nothing but its documentation changes."""

    dag_id: str
    status: str
    kind: str
    spec: str
    renamed_from: str | None = None
    arguments: list[Change] = field(default_factory=list)
    params: list[Change] = field(default_factory=list)
    config: list[Change] = field(default_factory=list)
    tasks: list[TaskPlan] = field(default_factory=list)
    edges_added: list[tuple[str, str]] = field(default_factory=list)
    edges_removed: list[tuple[str, str]] = field(default_factory=list)
    inlets_added: list[Link] = field(default_factory=list)  # Assets it now waits on
    inlets_removed: list[Link] = field(default_factory=list)
    outlets_added: list[tuple[str, str]] = field(default_factory=list)  # (task, path)
    outlets_removed: list[tuple[str, str]] = field(default_factory=list)
    triggers_added: list[Link] = field(default_factory=list)
    triggers_removed: list[Link] = field(default_factory=list)
    downstream: list[Link] = field(default_factory=list)  # every DAG its Assets reach
    new_version: bool = False
    version_from_docs: bool = False  # only its documentation (doc_md) makes the new version
    doc_only: bool = False
    task_count: int = 0
    risks: list[Risk] = field(default_factory=list)


@dataclass(frozen=True)
class Side:
    """One side of the comparison, as people read it: `label` says which revision."""

    label: str
    commit: str | None
    dags: int


@dataclass(frozen=True)
class Plan:
    base: Side
    head: Side
    dags: tuple[DagPlan, ...]
    unchanged: tuple[str, ...]
    pools: tuple[Change, ...] = ()

    def count(self, status: str) -> int:
        return sum(d.status == status and not d.doc_only for d in self.dags)

    @property
    def doc_only(self) -> list[str]:
        return [d.dag_id for d in self.dags if d.doc_only]

    @property
    def new_versions(self) -> list[str]:
        return [d.dag_id for d in self.dags if d.new_version]

    @property
    def risks(self) -> list[tuple[str, Risk]]:
        return [(d.dag_id, r) for d in self.dags for r in d.risks]

    @property
    def changed(self) -> bool:
        """Whether anything but documentation changes."""
        return bool(self.pools) or any(not d.doc_only for d in self.dags)


def compare(base: ProjectDescription, head: ProjectDescription, sides: tuple[Side, Side]) -> Plan:
    removed = sorted(set(base.dags) - set(head.dags))
    added = sorted(set(head.dags) - set(base.dags))
    renames = _renamed_dags([base.dags[d] for d in removed], [head.dags[d] for d in added])
    links = (_links(base, renames), _links(head, {}))
    plans: dict[str, DagPlan] = {}
    unchanged = []
    for dag_id in sorted(set(base.dags) & set(head.dags)):
        plan = _changed(base.dags[dag_id], head.dags[dag_id], CHANGED, links)
        if plan is None:
            unchanged.append(dag_id)
        else:
            plans[dag_id] = plan
    for old, new in renames.items():
        plans[new] = _changed(base.dags[old], head.dags[new], RENAMED, links) or _bare(
            head.dags[new], RENAMED
        )
        plans[new].renamed_from = old
    for dag_id in added:
        if dag_id not in renames.values():
            plans[dag_id] = _whole(head.dags[dag_id], ADDED, links[1])
    for dag_id in removed:
        if dag_id not in renames:
            plans[dag_id] = _whole(base.dags[dag_id], REMOVED, links[0])
    _triggers(plans, *links)
    pools = tuple(_changes(flatten(base.pools), flatten(head.pools)))
    return Plan(
        sides[0],
        sides[1],
        tuple(plans[d] for d in sorted(plans)),
        tuple(d for d in unchanged if d not in plans),
        pools,
    )


def _links(project: ProjectDescription, renames: dict[str, str]) -> set[Link]:
    """The project's Assets between DAGs, with DAG ids as they are called after `renames`."""
    return {
        Link(path, renames.get(producer, producer), task, renames.get(consumer, consumer))
        for path, producer, task, consumer in project.links()
    }


def _triggers(plans: dict[str, DagPlan], before: set[Link], after: set[Link]) -> None:
    """Per producer, the DAGs its Assets start now and no longer; per DAG that changes more
    than its documentation, every DAG its Assets reach (transitively, as the project is now)."""
    same = {(k.path, k.producer, k.consumer) for k in before} & {
        (k.path, k.producer, k.consumer) for k in after
    }
    for link in sorted(after):
        if (link.path, link.producer, link.consumer) not in same and link.producer in plans:
            plans[link.producer].triggers_added.append(link)
    for link in sorted(before):
        if (link.path, link.producer, link.consumer) not in same and link.producer in plans:
            plans[link.producer].triggers_removed.append(link)
    by_producer: dict[str, list[Link]] = {}
    for link in sorted(after):
        by_producer.setdefault(link.producer, []).append(link)
    for plan in plans.values():
        if plan.status == REMOVED or plan.doc_only:
            continue
        reached, pending = {plan.dag_id}, [plan.dag_id]
        while pending:
            for link in by_producer.get(pending.pop(0), []):
                if link.consumer not in reached:
                    reached.add(link.consumer)
                    pending.append(link.consumer)
                    plan.downstream.append(link)


def _renamed_dags(removed: list[DagDescription], added: list[DagDescription]) -> dict[str, str]:
    """Old id → new id: first by spec file, then by task shape; only unambiguous pairs."""
    pairs: dict[str, str] = {}
    for key in (lambda d: d.spec, lambda d: d.shape):
        left = [d for d in removed if d.dag_id not in pairs]
        right = [d for d in added if d.dag_id not in pairs.values()]
        for old in left:
            same = [new for new in right if key(new) == key(old)]
            twins = [o for o in left if key(o) == key(old)]
            if len(same) == 1 and len(twins) == 1 and same[0].kind == old.kind:
                pairs[old.dag_id] = same[0].dag_id
    return pairs


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    return [
        Change(path, old.get(path, UNSET), new.get(path, UNSET))
        for path in [*old, *(p for p in new if p not in old)]
        if not _same(old.get(path, UNSET), new.get(path, UNSET))
    ]


def _same(a: Any, b: Any) -> bool:
    """Equal as data: `1`, `1.0` and `true` differ (Python's == would call them equal)."""
    return _key(a) == _key(b)


def _bare(dag: DagDescription, status: str) -> DagPlan:
    return DagPlan(dag.dag_id, status, dag.kind, dag.spec, task_count=len(dag.tasks))


def _whole(dag: DagDescription, status: str, links: set[Link]) -> DagPlan:
    """An added or removed DAG: what it is, as changes from or to nothing."""
    plan = _bare(dag, status)
    if status == ADDED:
        plan.arguments = [
            Change(path, new=value)
            for path, value in flatten(dag.arguments).items()
            if path in ("schedule", "catchup", "start_date", "owner", "tags", "callbacks")
            and value != []
        ]
        plan.params = [
            Change(f"{name}.default", new=p.get("default")) for name, p in dag.params.items()
        ]
        plan.inlets_added = sorted(k for k in links if k.consumer == dag.dag_id)
        plan.outlets_added = sorted((t, p) for p, t in dag.outlets().items())
    else:
        plan.inlets_removed = sorted(k for k in links if k.consumer == dag.dag_id)
        plan.outlets_removed = sorted((t, p) for p, t in dag.outlets().items())
    plan.tasks = [TaskPlan(t.task_id, status, t.operator, t.group) for t in dag.tasks.values()]
    return plan


def _changed(
    old: DagDescription, new: DagDescription, status: str, links: tuple[set[Link], set[Link]]
) -> DagPlan | None:
    """The plan of a DAG on both sides, or None when nothing about it differs."""
    plan = _bare(new, status)
    defaults = _changes(
        flatten(old.settings, "default_args"), flatten(new.settings, "default_args")
    )
    plan.arguments = _changes(flatten(old.arguments), flatten(new.arguments)) + defaults
    plan.arguments += _changes(flatten(old.groups, "groups"), flatten(new.groups, "groups"))
    plan.params = _changes(flatten(old.params), flatten(new.params))
    plan.config = _changes(flatten(old.config), flatten(new.config))
    folded = {(c.path.partition(".")[2], _key(c.old), _key(c.new)) for c in defaults}
    renamed = _renamed_tasks(old, new)
    plan.tasks = _tasks(old, new, renamed, folded)
    back = {new_id: old_id for old_id, new_id in renamed.items()}
    old_edges = {(renamed.get(a, a), renamed.get(b, b)) for a, b in old.edges}
    plan.edges_added = sorted(new.edges - old_edges)
    plan.edges_removed = sorted((back.get(a, a), back.get(b, b)) for a, b in old_edges - new.edges)
    plan.inlets_added = sorted(
        k for k in links[1] if k.consumer == new.dag_id and k.path not in old.inlets
    )
    plan.inlets_removed = sorted(
        k for k in links[0] if k.consumer == new.dag_id and k.path not in new.inlets
    )
    old_out = {(renamed.get(t, t), p) for p, t in old.outlets().items()}
    new_out = {(t, p) for p, t in new.outlets().items()}
    plan.outlets_added = sorted(new_out - old_out)
    plan.outlets_removed = sorted((back.get(t, t), p) for t, p in old_out - new_out)
    structure = (plan.edges_added, plan.edges_removed, plan.inlets_added, plan.inlets_removed)
    structure += (plan.outlets_added, plan.outlets_removed)
    shown = any((plan.arguments, plan.params, plan.config, plan.tasks, *structure))
    stored = any((plan.arguments, plan.params, *structure)) or _tasks_stored(old, new)
    if not shown and not stored and old.doc == new.doc:
        return None
    plan.version_from_docs = old.doc != new.doc and not stored
    plan.doc_only = status == CHANGED and not shown
    plan.new_version = status == CHANGED and (stored or old.doc != new.doc)
    return plan


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)  # UNSET: its repr


def _tasks_stored(old: DagDescription, new: DagDescription) -> bool:
    """Whether what Airflow stores of the tasks differs: ids, operators, groups, settings,
    documentation (edges and outlets are compared on their own)."""
    if set(old.tasks) != set(new.tasks):
        return True
    return any(
        not _same(
            (a.operator, a.group, a.settings, a.doc), (b.operator, b.group, b.settings, b.doc)
        )
        for a, b in ((old.tasks[t], new.tasks[t]) for t in old.tasks)
    )


def _renamed_tasks(old: DagDescription, new: DagDescription) -> dict[str, str]:
    """Old task id → new id, for removed and added tasks alike but for their name."""
    removed = [old.tasks[t] for t in old.tasks if t not in new.tasks]
    added = [new.tasks[t] for t in new.tasks if t not in old.tasks]
    pairs: dict[str, str] = {}
    for task in removed:
        same = [t for t in added if _alike(task, t)]
        twins = [t for t in removed if _alike(t, same[0])] if len(same) == 1 else []
        if len(same) == 1 and len(twins) == 1:
            pairs[task.task_id] = same[0].task_id
    return pairs


def _alike(a: TaskDescription, b: TaskDescription) -> bool:
    """Same group, operator, settings and arguments (its description aside)."""

    def args(t: TaskDescription) -> dict[str, Any]:
        return {k: v for k, v in t.arguments.items() if k != "description"}

    return _same(
        (a.group, a.operator, a.settings, args(a)), (b.group, b.operator, b.settings, args(b))
    )


def _tasks(
    old: DagDescription,
    new: DagDescription,
    renamed: dict[str, str],
    folded: set[tuple[str, str, str]],
) -> list[TaskPlan]:
    """Tasks in the new DAG's order (added, renamed, changed), then the removed ones. A task
    setting that changes just as the DAG's default_args do is shown there, not per task."""
    back = {new_id: old_id for old_id, new_id in renamed.items()}
    plans = []
    for task in new.tasks.values():
        before = old.tasks.get(back.get(task.task_id, task.task_id))
        if before is None:
            plans.append(TaskPlan(task.task_id, ADDED, task.operator, task.group))
            continue
        changes = [
            Change(key, getattr(before, key), getattr(task, key))
            for key in ("operator", "group")
            if getattr(before, key) != getattr(task, key)
        ]
        changes += [
            c
            for c in _changes(flatten(before.settings), flatten(task.settings))
            if (c.path, _key(c.old), _key(c.new)) not in folded
        ]
        changes += _changes(flatten(before.arguments), flatten(task.arguments))
        status = RENAMED if task.task_id in back else CHANGED
        if changes or status == RENAMED:
            plans.append(
                TaskPlan(
                    task.task_id,
                    status,
                    task.operator,
                    task.group,
                    back.get(task.task_id),
                    tuple(changes),
                )
            )
    plans += [
        TaskPlan(t.task_id, REMOVED, t.operator, t.group)
        for t in old.tasks.values()
        if t.task_id not in new.tasks and t.task_id not in renamed
    ]
    return plans
