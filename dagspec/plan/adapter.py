"""The one place that reads the compiler's model: a compiled project → its neutral description.

Everything here mirrors what the templates render from the DAG's model (compiler.dag; where
the model holds only generated code, what the spec says): per kind, the tasks with their
settings and operator arguments, the DAG arguments and params, the constants the tasks share,
and digests of the documentation Airflow shows.
"""

from __future__ import annotations

import hashlib
from typing import Any

from compiler.dag import Dag, EntityDag, ManifestDag, ReductionDag
from compiler.docs import dag_doc
from compiler.kinds.common import notify_model
from compiler.model import Analysis, Target
from dagspec.plan.description import DagDescription, ProjectDescription, TaskDescription


def describe(analysis: Analysis) -> ProjectDescription:
    """Every DAG the analysis planned, and the project's pools."""
    dags = {t.name: _dag(t, analysis) for t in sorted(analysis.targets, key=lambda t: t.name)}
    pools = analysis.project.config.get("pools") or {}
    return ProjectDescription(dags, {name: dict(pool) for name, pool in sorted(pools.items())})


def _dag(target: Target, analysis: Analysis) -> DagDescription:
    dag, spec = target.dag, target.sources[0]
    notify = _notify(target, analysis)
    if isinstance(dag, EntityDag):
        tasks, config, arguments = _entity(dag)
    elif isinstance(dag, ManifestDag):
        tasks, config, arguments = _manifest(dag)
    else:
        assert isinstance(dag, ReductionDag)
        tasks, config, arguments = _reduction(dag)
    described = {
        task_id: TaskDescription(
            task_id,
            operator,
            group,
            dict(settings),
            dict(args),
            tuple(sorted(dag.task(task_id).upstream)),
            tuple(sorted(target.outlets.get(task_id, ()))),
            doc,
        )
        for task_id, (operator, group, settings, args, doc) in tasks.items()
    }
    events = notify["events"] if notify else {}
    year, month, day = dag.arguments.start_date
    return DagDescription(
        dag_id=target.name,
        kind=dag.kind,
        spec=spec.doc.file,
        sources=tuple(s.doc.file for s in target.sources),
        arguments={
            "description": dag.arguments.description,
            "schedule": dag.arguments.schedule,
            "catchup": dag.arguments.catchup,
            "start_date": f"{year:04d}-{month:02d}-{day:02d}",
            "tags": list(dag.arguments.tags),
            "owner": dag.owner,
            "callbacks": sorted(events),
            **({"deadline_minutes": notify["deadline_minutes"]} if "deadline" in events else {}),
            **arguments,
        },
        settings=dict(dag.settings),
        params={p.name: {"default": p.default, **dict(p.options)} for p in dag.params},
        tasks=described,
        groups=_groups(dag),
        inlets=tuple(sorted(target.assets_in)),
        config={**config, **({"notify": notify} if notify else {})},
        doc=_digest(dag_doc(target)),
    )


Task = tuple[str, str | None, dict[str, Any], dict[str, Any], str | None]


def _entity(dag: EntityDag) -> tuple[dict[str, Task], dict[str, Any], dict[str, Any]]:
    tasks: dict[str, Task] = {
        "prepare_workspace": (
            "PrepareWorkspaceOperator",
            None,
            dict(dag.prepare.settings),
            {"phases": dag.prepare.arguments["phases"]},
            None,
        )
    }
    for phase in dag.phases:
        for module in phase.modules:
            task = module.task
            arguments = task.arguments
            tasks[task.task_id] = (
                "ModuleOperator",
                phase.name,
                dict(task.settings),
                {
                    "command": arguments["command"],
                    "required": module.required,
                    "inputs": arguments["inputs"],
                    "outputs": list(module.outputs),
                    "env": arguments["env"],
                    "description": task.description,
                    # the step's other arguments, as stated (the operator's defaults unset)
                    **{
                        k: v
                        for k, v in arguments.items()
                        if k not in ("entity", "phase", "module", "command", "inputs", "env")
                    },
                },
                _digest(str(module.doc)),
            )
        tasks[phase.gate.task_id] = (
            "PhaseGateOperator",
            phase.name,
            dict(phase.gate.settings),
            {"modules": phase.gate.arguments["modules"]},
            None,
        )
    for task, operator, args in (
        (dag.promote, "PromoteOperator", {"mapping": dag.promote.arguments["mapping"]}),
        (
            dag.result,
            "PipelineResultOperator",
            {
                "phases": dag.result.arguments["phases"],
                "result_path": dag.result.arguments["result_path"],
            },
        ),
    ):
        tasks[task.task_id] = (operator, None, dict(task.settings), args, None)
    prepare = dag.prepare.arguments
    config = {
        "entity": dag.entity,
        "workspace": {"base_dir": prepare["base_dir"], "prefix": prepare["prefix"]},
        "storage": dag.storage,
    }
    return tasks, config, {"max_active_runs": dag.arguments.max_active_runs}


def _manifest(dag: ManifestDag) -> tuple[dict[str, Task], dict[str, Any], dict[str, Any]]:
    tasks: dict[str, Task] = {
        task.task_id: (
            "ManifestGateOperator",
            None,
            dict(dag.settings),
            {"gate": task.arguments["gate"]},
            None,
        )
        for task in dag.tasks
    }
    config = {
        "process": dict(dag.process),
        "meta": {"conn_id": dag.meta_conn_id, "sqlite_path": dag.meta_sqlite_path},
        "storage": dag.storage,
    }
    return tasks, config, {"max_active_runs": 1}


def _reduction(dag: ReductionDag) -> tuple[dict[str, Task], dict[str, Any], dict[str, Any]]:
    tasks: dict[str, Task] = {}
    for task in dag.tasks:
        if task.mapped_over is None:  # wait_for_new_data, register_software, discover
            args = {
                k: task.arguments[k]
                for k in ("poll_seconds", "group_by", "cooldown_seconds")
                if k in task.arguments
            }
            tasks[task.task_id] = (task.operator, None, dict(task.settings), args, None)
            continue
        tasks[task.task_id] = (
            "ReductionStepOperator",
            task.group,
            {
                **task.defaults,
                **task.settings,
                "max_active_tis_per_dagrun": task.max_active,
            },
            {"step": task.arguments["step"]},
            _digest(task.description) if task.description else None,
        )
    config = {
        "pipeline": dict(dag.pipeline),
        "step_args": {
            "products_root": dag.products_root,
            "partition": dag.partition,
            "account": dag.account,
            "storage": dag.storage,
        },
        "meta": {"conn_id": dag.meta_conn_id, "sqlite_path": dag.meta_sqlite_path},
    }
    return tasks, config, {"max_active_runs": 1, "is_paused_upon_creation": dag.arguments.paused}


def _groups(dag: Dag) -> dict[str, dict[str, Any]]:
    if isinstance(dag, EntityDag):
        return {p.name: {"tooltip": p.tooltip} for p in dag.phases}
    if isinstance(dag, ReductionDag):
        return {
            g.group_id: {"mapped_over": g.discover.task_id, "group_by": list(g.group_by)}
            for g in dag.groups
        }
    return {}


def _notify(target: Target, analysis: Analysis) -> dict[str, Any] | None:
    """Channels and events as the spec and the project state them (the model holds only the
    code that builds the notifier). An Entity takes `notify` from the nearest spec of its
    `extends` chain that states it."""
    stated = next((s.body["notify"] for s in target.sources if "notify" in s.body), None)
    model, _ = notify_model(target.sources[0], analysis, stated)
    return model


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
