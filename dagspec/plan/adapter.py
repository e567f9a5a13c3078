"""The one place that reads the compiler's model: a compiled project → its neutral description.

Everything here mirrors what the templates render from `Target.model` (and, where the model
holds only generated code, what the spec says): per kind, the tasks with their settings and
operator arguments, the DAG arguments and params, the constants the tasks share, and digests
of the documentation Airflow shows.
"""

from __future__ import annotations

import hashlib
from typing import Any

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
    model, spec = target.model, target.sources[0]
    kind = spec.kind
    notify = _notify(target, analysis)
    tasks, config, arguments = {
        "Entity": _entity,
        "Manifest": _manifest,
        "ReductionPipeline": _reduction,
    }[kind](target)
    upstream: dict[str, list[str]] = {}
    for first, then in target.edges:
        upstream.setdefault(then, []).append(first)
    described = {
        task_id: TaskDescription(
            task_id,
            operator,
            group,
            dict(settings),
            dict(args),
            tuple(sorted(upstream.get(task_id, ()))),
            tuple(sorted(target.outlets.get(task_id, ()))),
            doc,
        )
        for task_id, (operator, group, settings, args, doc) in tasks.items()
    }
    events = notify["events"] if notify else {}
    year, month, day = model["start_date"]
    return DagDescription(
        dag_id=target.name,
        kind=kind,
        spec=spec.doc.file,
        sources=tuple(s.doc.file for s in target.sources),
        arguments={
            "description": model["description"],
            "schedule": model["schedule"],
            "catchup": model["catchup"],
            "start_date": f"{year:04d}-{month:02d}-{day:02d}",
            "tags": list(model["tags"]),
            "owner": model.get("owner"),
            "callbacks": sorted(events),
            **({"deadline_minutes": notify["deadline_minutes"]} if "deadline" in events else {}),
            **arguments,
        },
        settings=dict(model["settings"]),
        params={
            p["name"]: {"default": p["default"], **{k: v for k, v in p["options"]}}
            for p in model["params"]
        },
        tasks=described,
        groups=_groups(target),
        inlets=tuple(sorted(target.assets_in)),
        config={**config, **({"notify": notify} if notify else {})},
        doc=_digest(dag_doc(target)),
    )


Task = tuple[str, str | None, dict[str, Any], dict[str, Any], str | None]


def _entity(target: Target) -> tuple[dict[str, Task], dict[str, Any], dict[str, Any]]:
    model = target.model
    shared = {k: v for k, v in model["settings"].items() if k != "pool"}
    tasks: dict[str, Task] = {
        "prepare_workspace": (
            "PrepareWorkspaceOperator",
            None,
            shared,
            {"phases": model["phase_names"]},
            None,
        )
    }
    for phase in model["phases"]:
        for module in phase["modules"]:
            tasks[f"{phase['name']}.{module['name']}"] = (
                "ModuleOperator",
                phase["name"],
                dict(module["settings"]),
                {
                    "command": module["command"],
                    "required": module["required"],
                    "inputs": module["inputs"],
                    "outputs": module["outputs"],
                    "env": module["env"],
                    "description": module["description"],
                    # stated in the spec, else the operator's default (unset here)
                    **(
                        {}
                        if module["timeout_seconds"] is None
                        else {"timeout_seconds": module["timeout_seconds"]}
                    ),
                },
                _digest(str(module["doc"])),
            )
        tasks[f"{phase['name']}.gate"] = (
            "PhaseGateOperator",
            phase["name"],
            shared,
            {"modules": phase["required"]},
            None,
        )
    tasks["promote"] = ("PromoteOperator", None, shared, {"mapping": model["promote"]}, None)
    tasks["pipeline_result"] = (
        "PipelineResultOperator",
        None,
        shared,
        {"phases": model["phase_modules"], "result_path": model["result_path"]},
        None,
    )
    config = {
        "entity": model["entity"],
        "workspace": dict(model["workspace"]),
        "storage": model["storage"],
    }
    return tasks, config, {"max_active_runs": model["max_active_runs"]}


def _manifest(target: Target) -> tuple[dict[str, Task], dict[str, Any], dict[str, Any]]:
    model = target.model
    settings = dict(model["settings"])
    tasks: dict[str, Task] = {
        gate: ("ManifestGateOperator", None, settings, {"gate": gate}, None)
        for gate in model["gates"]
    }
    config = {
        "process": model["process"],
        "meta": {"conn_id": model["meta_conn_id"], "sqlite_path": model["meta_sqlite_path"]},
        "storage": model["storage"],
    }
    return tasks, config, {"max_active_runs": 1}


def _reduction(target: Target) -> tuple[dict[str, Task], dict[str, Any], dict[str, Any]]:
    model = target.model
    priority = {"priority_weight": model["priority"]}
    shared = {**{k: v for k, v in model["settings"].items() if k != "pool"}, **priority}
    tasks: dict[str, Task] = {}
    if model["continuous"]:
        tasks["wait_for_new_data"] = (
            "WaitForNewDataOperator",
            None,
            shared,
            {"poll_seconds": model["poll_seconds"]},
            None,
        )
    tasks["register_software"] = ("RegisterSoftwareOperator", None, shared, {}, None)
    for group in model["groups"]:
        tasks[group["discover"]] = (
            "DiscoverSubGroupsOperator",
            None,
            shared,
            {"group_by": group["group_by"], "cooldown_seconds": group["cooldown_seconds"]},
            None,
        )
        for step in group["steps"]:
            config = model["steps"][step["name"]]
            tasks[f"{group['group_id']}.{step['name']}"] = (
                "ReductionStepOperator",
                group["group_id"],
                {
                    "retries": 0,
                    **priority,
                    **step["settings"],
                    "max_active_tis_per_dagrun": config["max_concurrent_runs"],
                },
                {"step": config},
                _digest(step["description"]) if step.get("description") else None,
            )
    config = {
        "pipeline": model["pipeline"],
        "step_args": {
            "products_root": model["products_root"],
            "partition": model["partition"],
            "account": model["account"],
            "storage": model["storage"],
        },
        "meta": {
            "conn_id": model["meta"]["meta_conn_id"],
            "sqlite_path": model["meta"]["meta_sqlite_path"],
        },
    }
    return tasks, config, {"max_active_runs": 1, "is_paused_upon_creation": model["paused"]}


def _groups(target: Target) -> dict[str, dict[str, Any]]:
    model = target.model
    if "phases" in model:
        return {p["name"]: {"tooltip": p["description"]} for p in model["phases"]}
    return {
        g["group_id"]: {"mapped_over": g["discover"], "group_by": g["group_by"]}
        for g in model.get("groups", [])
    }


def _notify(target: Target, analysis: Analysis) -> dict[str, Any] | None:
    """Channels and events as the spec and the project state them (the model holds only the
    code that builds the notifier). An Entity takes `notify` from the nearest spec of its
    `extends` chain that states it."""
    stated = next((s.body["notify"] for s in target.sources if "notify" in s.body), None)
    model, _ = notify_model(target.sources[0], analysis, stated)
    return model


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
