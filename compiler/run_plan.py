"""Run plans: a compiled DAG as plain data, for the fast local runner (`dagspec run`).

A plan lists the same tasks, arguments, dependencies, trigger rules, retries and pools as the
DAG file the template writes, taken from the same analysis model, so running the plan and
running the DAG in Airflow apply one runtime logic (plugins/dagspec_runtime) to one spec.
A ReductionPipeline's steps are mapped tasks (``map_over`` its discover task): the runner
expands them into one instance per sub-group when discovery has found them, as Airflow expands
the mapped task groups the template writes.
"""

from __future__ import annotations

from typing import Any

from compiler.model import Analysis, Target

ALL_DONE = "all_done"
#: task settings a plan carries when the model has them (the names the schemas use)
SETTINGS = (
    "retries",
    "retry_delay_seconds",
    "retry_exponential_backoff",
    "pool",
    "priority_weight",
    "execution_timeout_seconds",
)


def build_plan(target: Target, analysis: Analysis) -> dict[str, Any] | None:
    """The run plan of one DAG, or None when its kind runs only through Airflow."""
    kind = target.sources[0].kind
    root = str(analysis.project.root)
    pools = {name: int(p["slots"]) for name, p in analysis.project.config["pools"].items()}
    if kind == "Entity":
        tasks = _entity_tasks(target.model, root)
    elif kind == "Manifest":
        tasks = _manifest_tasks(target.model, root)
    elif kind == "ReductionPipeline":
        tasks = _reduction_tasks(target.model, root)
    else:
        return None
    upstream: dict[str, list[str]] = {task["task_id"]: [] for task in tasks}
    for first, then in _edges(target):
        if first not in upstream[then]:
            upstream[then].append(first)
    for task in tasks:
        task["upstream"] = upstream[task["task_id"]]
    return {
        "dag_id": target.name,
        "kind": kind,
        "tasks": tasks,
        "params": _params(target.model["params"]),
        "pools": pools,
    }


def _edges(target: Target) -> list[tuple[str, str]]:
    """The DAG's edges. A mapped task group after another (`a_runs >> b_runs`) waits for every
    leaf of the first group, not only its last step."""
    edges = list(target.edges)
    if target.sources[0].kind != "ReductionPipeline":
        return edges
    groups = {g["result"]: g for g in target.model["groups"]}
    for group in target.model["groups"]:
        roots = [f"{group['group_id']}.{s['name']}" for s in group["steps"] if not s["upstream"]]
        for after in group["after"]:
            before = groups[after]
            inner = {u for s in before["steps"] for u in s["upstream"]}
            leaves = [
                f"{before['group_id']}.{s['name']}"
                for s in before["steps"]
                if s["var"] not in inner
            ]
            edges += [(leaf, root) for leaf in leaves for root in roots]
    return edges


def _settings(*sources: dict[str, Any]) -> dict[str, Any]:
    """Task settings, the nearest source winning (module over phase over spec)."""
    found: dict[str, Any] = {}
    for source in reversed(sources):
        found.update({k: source[k] for k in SETTINGS if source.get(k) is not None})
    return found


def _stated(**arguments: Any) -> dict[str, Any]:
    """The arguments a spec states (not None); the runtime supplies the rest."""
    return {name: value for name, value in arguments.items() if value is not None}


def _task(
    task_id: str,
    call: str,
    kwargs: dict[str, Any],
    *settings: dict[str, Any],
    trigger_rule: str | None = None,
) -> dict[str, Any]:
    task = {"task_id": task_id, "call": call, "kwargs": kwargs, **_settings(*settings)}
    if trigger_rule:
        task["trigger_rule"] = trigger_rule
    return task


def _entity_tasks(model: dict[str, Any], root: str) -> list[dict[str, Any]]:
    entity = model["entity"]
    # default_args: the project and spec settings, without the pool (it is the modules')
    dag = {k: v for k, v in model["settings"].items() if k != "pool"}
    tasks = [
        _task(
            "prepare_workspace",
            "entity.prepare_workspace",
            {
                "entity": entity,
                "phases": model["phase_names"],
                "base_dir": model["workspace"]["base_dir"],
                "prefix": model["workspace"]["prefix"],
                "project_root": root,
                "storage": model["storage"],
            },
            dag,
        )
    ]
    for phase in model["phases"]:
        for module in phase["modules"]:
            tasks.append(
                _task(
                    f"{phase['name']}.{module['name']}",
                    "entity.module",
                    {
                        "entity": entity,
                        "phase": phase["name"],
                        "module": module["name"],
                        "command": module["command"],
                        "project_root": root,
                        "inputs": module["inputs"],
                        "env": module["env"],
                        **_stated(timeout_seconds=module["timeout_seconds"]),
                    },
                    module["settings"],
                    dag,
                )
            )
        tasks.append(
            _task(
                f"{phase['name']}.gate",
                "entity.gate",
                {"phase": phase["name"], "modules": phase["required"]},
                dag,
                trigger_rule=ALL_DONE,
            )
        )
    tasks.append(
        _task(
            "promote",
            "entity.promote",
            {"entity": entity, "project_root": root, "mapping": model["promote"]},
            dag,
            trigger_rule=ALL_DONE,
        )
    )
    tasks.append(
        _task(
            "pipeline_result",
            "entity.result",
            {
                "entity": entity,
                "phases": model["phase_modules"],
                "project_root": root,
                "result_path": model["result_path"],
            },
            dag,
            trigger_rule=ALL_DONE,
        )
    )
    return tasks


def _manifest_tasks(model: dict[str, Any], root: str) -> list[dict[str, Any]]:
    process = model["process"]
    # the gate operator's own defaults (from PROCESS), under the DAG's default_args
    retry = {
        "retries": process.get("retries", 0),
        "retry_delay_seconds": process.get("retry_backoff_seconds"),
    }
    tasks = []
    for gate in model["gates"]:
        task = _task(
            gate,
            "etl.gate",
            {
                "gate": gate,
                "process": process,
                "meta_conn_id": model["meta_conn_id"],
                "meta_sqlite_path": model["meta_sqlite_path"],
                "project_root": root,
                "storage": model["storage"],
            },
            model["settings"],
            retry,
        )
        task["inline"] = True  # gates run one after another; an interrupt reaches the gate
        tasks.append(task)
    return tasks


def _reduction_tasks(model: dict[str, Any], root: str) -> list[dict[str, Any]]:
    """The template's tasks: [wait_for_new_data,] register_software, then per group its
    discover task and its steps, mapped over the sub-groups discovery returns."""
    meta = {"project_root": root, **model["meta"]}
    # default_args: the project and spec settings, without the pool (it is the steps')
    dag = {k: v for k, v in model["settings"].items() if k != "pool"}
    first = {"priority_weight": model["priority"]}
    pipeline = model["pipeline"]
    tasks = []
    if model["continuous"]:
        tasks.append(
            _task(
                "wait_for_new_data",
                "reduction.wait_for_new_data",
                {
                    "pipeline": pipeline,
                    "poll_seconds": model["poll_seconds"],
                    "products_root": model["products_root"],
                    "project_root": root,
                },
                first,
                dag,
            )
        )
    tasks.append(
        _task(
            "register_software",
            "reduction.register_software",
            {"pipeline": pipeline, **meta},
            first,
            dag,
        )
    )
    names = {s["name"]: f"{g['group_id']}.{s['name']}" for g in model["groups"] for s in g["steps"]}
    for group in model["groups"]:
        tasks.append(
            _task(
                group["discover"],
                "reduction.discover",
                {
                    "pipeline": pipeline,
                    "group_by": group["group_by"],
                    "cooldown_seconds": group["cooldown_seconds"],
                    **meta,
                },
                first,
                dag,
            )
        )
        for step in group["steps"]:
            spec = model["steps"][step["name"]]
            task = _task(
                names[step["name"]],
                "reduction.step",
                {
                    "pipeline": pipeline,
                    "step": spec,
                    "upstream_tasks": [names[u] for u in spec["depends_on"]],
                    "products_root": model["products_root"],
                    "partition": model["partition"],
                    "account": model["account"],
                    "storage": model["storage"],
                    **meta,
                },
                {"retries": 0, "priority_weight": model["priority"]} | step["settings"],
            )
            task.update(
                map_over=group["discover"],
                map_arg="sub_group",
                max_active=spec["max_concurrent_runs"],
            )
            tasks.append(task)
    return tasks


def _params(params: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """name -> {default, schema}: what Airflow's Param(default, **options) validates."""
    return {p["name"]: {"default": p["default"], "schema": dict(p["options"])} for p in params}
