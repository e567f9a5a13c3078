"""The plan for a terminal: one block per DAG, `+` added, `-` removed, `~` changed, `>` renamed."""

from __future__ import annotations

from dagspec.plan.diff import (
    ADDED,
    CHANGED,
    REMOVED,
    RENAMED,
    Change,
    DagPlan,
    Link,
    Plan,
    TaskPlan,
)
from dagspec.plan.values import show
from dagspec.plan.words import SAME_VERSION_NOTE, areas, summary, version

MARKS = {ADDED: "+", REMOVED: "-", RENAMED: ">"}


def render(plan: Plan) -> str:
    commit = f" ({plan.base.commit[:10]})" if plan.base.commit else ""
    lines = [f"dagspec plan: {plan.base.label}{commit} → {plan.head.label}", ""]
    for dag in plan.dags:
        lines += _dag(dag) + [""]
    if plan.pools:
        lines += ["~ pools"] + [f"    {_change(c)}" for c in plan.pools] + [""]
    lines.append(f"Plan: {summary(plan)}.")
    return "\n".join(lines) + "\n"


def _dag(dag: DagPlan) -> list[str]:
    name = f"{dag.renamed_from} → {dag.dag_id}" if dag.status == RENAMED else dag.dag_id
    lines = [
        f"{MARKS.get(dag.status, '~')} {name}  ({dag.kind}, {dag.spec}) {dag.status}: "
        f"{areas(dag)}; {version(dag)}"
    ]
    if dag.status == ADDED:
        lines += [f"    {c.path} = {show(c.new)}" for c in dag.arguments]
        lines += [f"    params.{c.path} = {show(c.new)}" for c in dag.params]
    else:
        lines += [f"    {_change(c)}" for c in dag.arguments]
        lines += [f"    params.{_change(c)}" for c in dag.params]
    lines += [f"    {_change(c)}" for c in dag.config]
    if dag.version_from_docs and dag.status == CHANGED:
        lines.append("    DAG documentation (doc_md) changes: Airflow stores a new version")
    if dag.status != REMOVED:  # a removed DAG's tasks go with it
        lines += [line for task in dag.tasks for line in _task(task)]
    lines += [f"    + edge {a} → {b}" for a, b in dag.edges_added]
    lines += [f"    - edge {a} → {b}" for a, b in dag.edges_removed]
    lines += [f"    + waits on {_from(link)}" for link in dag.inlets_added]
    lines += [f"    - waits on {_from(link)}" for link in dag.inlets_removed]
    lines += [f"    + outlet {task}: {path}" for task, path in dag.outlets_added]
    lines += [f"    - outlet {task}: {path}" for task, path in dag.outlets_removed]
    lines += [f"    + triggers {k.consumer} (via {k.path})" for k in dag.triggers_added]
    lines += [f"    - no longer triggers {k.consumer} (via {k.path})" for k in dag.triggers_removed]
    lines += [
        f"    → reaches {k.consumer} (waits on {k.path} of {k.producer})" for k in dag.downstream
    ]
    if version(dag) == "same version":
        lines.append(f"    ({SAME_VERSION_NOTE})")
    lines += [f"  ! {risk.message}" for risk in dag.risks]
    return lines


def _task(task: TaskPlan) -> list[str]:
    if task.status == RENAMED:
        head = f"    > task {task.renamed_from} → {task.task_id}"
    else:
        head = f"    {MARKS.get(task.status, '~')} task {task.task_id}"
    if task.status in (ADDED, REMOVED):
        head += f" ({task.operator})"
    return [head] + [f"        {_change(c)}" for c in task.changes]


def _change(change: Change) -> str:
    return f"{change.path}: {show(change.old)} → {show(change.new)}"


def _from(link: Link) -> str:
    return f"{link.path} (from {link.producer}:{link.task})"
