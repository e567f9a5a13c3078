"""Warnings for changes that surprise people once Airflow runs them: history left behind under
an id nothing uses any more, runs created for missed intervals, scheduled runs that quietly take
a new param default."""

from __future__ import annotations

from dagspec.plan.description import DagDescription, ProjectDescription
from dagspec.plan.diff import ADDED, REMOVED, RENAMED, DagPlan, Plan, Risk
from dagspec.plan.values import show


def add_risks(plan: Plan, base: ProjectDescription, head: ProjectDescription) -> None:
    """Give every DAG of the plan its warnings."""
    for dag in plan.dags:
        dag.risks = risks(
            dag, base.dags.get(dag.renamed_from or dag.dag_id), head.dags.get(dag.dag_id)
        )


def risks(plan: DagPlan, old: DagDescription | None, new: DagDescription | None) -> list[Risk]:
    if plan.status == REMOVED or new is None:
        return []
    found = []
    if plan.status == RENAMED:
        found.append(
            Risk(
                "renamed-dag",
                f"DAG id `{plan.renamed_from}` becomes `{plan.dag_id}`: the runs, task history "
                f"and logs of `{plan.renamed_from}` stay under the old id, which Airflow marks "
                f"stale; `{plan.dag_id}` starts with no history",
            )
        )
    if plan.status in (ADDED, RENAMED) and _catches_up(new):
        found.append(
            Risk(
                "new-dag-catchup",
                f"new DAG with catchup and schedule `{show(new.arguments['schedule'])}`: Airflow "
                "creates a run for every interval since its start date "
                f"{new.arguments['start_date']}",
            )
        )
    if old is None or plan.status == ADDED:
        return found
    for task in plan.tasks:
        if task.status == REMOVED:
            found.append(
                Risk(
                    "removed-task",
                    f"task `{task.task_id}` is removed: its past task instances, logs and XComs "
                    "stay under an id the DAG no longer has",
                    task.task_id,
                )
            )
        elif task.status == RENAMED:
            found.append(
                Risk(
                    "renamed-task",
                    f"task `{task.renamed_from}` becomes `{task.task_id}`: its history stays "
                    f"under `{task.renamed_from}`; `{task.task_id}` starts with none",
                    task.task_id,
                )
            )
    changes = {c.path: c for c in plan.arguments}
    if "schedule" in changes and _catches_up(new):
        schedule = changes["schedule"]
        found.append(
            Risk(
                "schedule-with-catchup",
                f"schedule `{show(schedule.old)}` → `{show(schedule.new)}` on a DAG with catchup: "
                "Airflow creates a run for every interval of the new schedule since the last "
                f"scheduled run (since {new.arguments['start_date']} if there was none)",
            )
        )
    elif "catchup" in changes and _catches_up(new):
        found.append(
            Risk(
                "catchup-on",
                "catchup turns on: Airflow creates a run for every interval it finds missed "
                f"since the last scheduled run (since {new.arguments['start_date']} if there "
                "was none)",
            )
        )
    if new.scheduled:
        for change in plan.params:
            name, _, key = change.path.partition(".")
            if key == "default" and name in old.params and name in new.params:
                found.append(
                    Risk(
                        "param-default-scheduled",
                        f"param `{name}` default `{show(change.old)}` → `{show(change.new)}` on a "
                        "scheduled DAG: scheduled runs take the new value, with no one to "
                        "fill in the form",
                    )
                )
    return found


def _catches_up(dag: DagDescription) -> bool:
    schedule = dag.arguments.get("schedule")
    return bool(dag.arguments.get("catchup")) and schedule is not None and schedule != "@continuous"
