"""Phrases the text and Markdown plans share: the summary line and what changed in a DAG."""

from __future__ import annotations

from dagspec.plan.diff import ADDED, CHANGED, REMOVED, RENAMED, DagPlan, Plan


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def summary(plan: Plan) -> str:
    """One line: how many DAGs change how, new versions, warnings."""
    if not plan.changed:
        line = "no change to any DAG"
        if plan.doc_only:
            line += f" (documentation only: {plural(len(plan.doc_only), 'DAG')})"
    else:
        counts = [(plan.count(s), s) for s in (ADDED, CHANGED, RENAMED, REMOVED)]
        line = ", ".join(f"{n} {status}" for n, status in counts if n) or "pools only"
        if plan.doc_only:
            line += f", {len(plan.doc_only)} documentation only"
    parts = [line]
    if plan.new_versions:
        parts.append(plural(len(plan.new_versions), "new DAG version"))
    if plan.risks:
        parts.append(plural(len(plan.risks), "warning"))
    parts.append(f"{len(plan.unchanged)} unchanged")
    return "; ".join(parts)


def areas(dag: DagPlan) -> str:
    """What changes in a DAG, in a few words: `schedule, catchup, 2 tasks changed, Assets`."""
    if dag.status in (ADDED, REMOVED):
        return plural(dag.task_count, "task")
    if dag.doc_only:
        return "DAG docs only"
    words = []
    names = [c.path.split(".")[0] for c in dag.arguments]
    words += list(dict.fromkeys(names))
    if dag.params:
        words.append(plural(len({c.path.split(".")[0] for c in dag.params}), "param"))
    if dag.config:
        words.append(
            ", ".join(dict.fromkeys(c.path.split(".")[0].split("[")[0] for c in dag.config))
        )
    if dag.tasks:
        counts: dict[str, int] = {}
        for task in dag.tasks:
            counts[task.status] = counts.get(task.status, 0) + 1
        words.append(
            ", ".join(
                f"{plural(n, 'task')} {status}" if i == 0 else f"{n} {status}"
                for i, (status, n) in enumerate(counts.items())
            )
        )
    edges = len(dag.edges_added) + len(dag.edges_removed)
    if edges:
        words.append(plural(edges, "edge"))
    if (
        dag.inlets_added
        or dag.inlets_removed
        or dag.outlets_added
        or dag.outlets_removed
        or dag.triggers_added
        or dag.triggers_removed
    ):
        words.append("Assets")
    if dag.version_from_docs and dag.status == CHANGED:
        words.append("DAG docs")
    return ", ".join(words) or "its id"


def version(dag: DagPlan) -> str:
    """What Airflow makes of it: `new DAG`, `new version`, `same version`, `marked stale`."""
    if dag.status in (ADDED, RENAMED):
        return "new DAG"
    if dag.status == REMOVED:
        return "marked stale"
    return "new version" if dag.new_version else "same version"


SAME_VERSION_NOTE = (
    "Only operator arguments that Airflow does not store change: the DAG keeps its version and "
    "the next run uses them."
)
