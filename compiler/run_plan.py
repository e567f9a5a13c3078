"""Run plans: a compiled DAG as plain data, for the fast local runner (`dagspec run`).

A plan lists the same tasks, arguments, dependencies, trigger rules, retries and pools as the
DAG file the template writes, read from the same model (compiler.dag), so running the plan and
running the DAG in Airflow apply one runtime logic (plugins/dagspec_runtime) to one spec. One
function serves every kind: each task names its runtime step and that step's arguments. A
mapped task (a ReductionPipeline's step) is expanded by the runner into one instance per
sub-group when its discover task has found them, as Airflow expands the mapped task groups.
"""

from __future__ import annotations

from typing import Any

from compiler.dag import Dag, Task
from compiler.kinds.common import plan_settings
from compiler.model import Analysis, Target


def build_plan(target: Target, analysis: Analysis) -> dict[str, Any]:
    """The run plan of one DAG."""
    dag = target.dag
    root = str(analysis.project.root)
    pools = {name: int(p["slots"]) for name, p in analysis.project.config["pools"].items()}
    return {
        "dag_id": target.name,
        "kind": target.kind,
        "tasks": [_task(task, root) for task in dag.tasks],
        "params": _params(dag),
        "pools": pools,
    }


def _task(task: Task, root: str) -> dict[str, Any]:
    kwargs = {**task.arguments, **({"project_root": root} if task.rooted else {})}
    planned: dict[str, Any] = {
        "task_id": task.task_id,
        "call": task.call,
        "kwargs": kwargs,
        **plan_settings(task.settings, task.defaults),
    }
    if task.trigger_rule:
        planned["trigger_rule"] = task.trigger_rule
    planned["upstream"] = list(task.upstream)
    if task.inline:
        planned["inline"] = True
    if task.mapped_over is not None:
        planned.update(map_over=task.mapped_over, map_arg="sub_group", max_active=task.max_active)
    return planned


def _params(dag: Dag) -> dict[str, dict[str, Any]]:
    """name -> {default, schema}: what Airflow's Param(default, **options) validates."""
    return {p.name: {"default": p.default, "schema": dict(p.options)} for p in dag.params}
