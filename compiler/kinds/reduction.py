"""The ReductionPipeline kind (Slurm steps over sub-groups of a data grouping).

Steps that share a `group_by` share one mapped task group, expanded over the sub-groups a
discover task finds at run time: inside it a step runs for a sub-group as soon as its upstream
finished for that same sub-group. A step with a coarser `group_by` (e.g. [] after a per-scan
step) runs after the whole finer group.
"""

from __future__ import annotations

import builtins
from typing import Any

from compiler.dag import Arguments, Group, NotifyCode, ReductionDag, Step, Task
from compiler.findings import Finding, Severity
from compiler.kinds.common import (
    catchup_warning,
    default_args,
    duplicate_names,
    notify_code,
    notify_model,
    param,
    param_findings,
    project_settings,
    spec_settings,
    start_date,
    tags,
    trigger_params,
    undeclared_pools,
)
from compiler.model import Analysis, Artifact, Spec, Target
from compiler.render import literal, python_name, template_names
from compiler.schemas import apply_defaults
from compiler.settings import KEYS, inherit, needs_timedelta, stated, task_kwargs
from compiler.validate import did_you_mean

TEMPLATE = "reduction.py.j2"
SCHEDULES = {"MANUAL": None, "CONTINUOUS": "@continuous"}


def check_project(analysis: Analysis) -> None:
    """Reduction pipelines need nothing from the project beyond what each spec checks."""


def plan(spec: Spec, analysis: Analysis) -> list[tuple[Target | None, list[Finding]]]:
    body = apply_defaults("ReductionPipeline", spec.doc.data)["spec"]
    findings = _check(spec, body) + undeclared_pools(
        spec,
        analysis,
        [(("spec",), spec.body)]
        + [(("spec", "steps", i), s) for i, s in enumerate(spec.body["steps"])],
    )
    notify, notify_findings = notify_model(spec, analysis, spec.body.get("notify"))
    findings += notify_findings
    if findings:
        return [(None, findings)]
    target = Target.of(_model(spec, body, analysis, notify_code(notify)), TEMPLATE, [spec])
    _add_artifacts(target, spec, body)
    return [(target, _surprises(spec, body, analysis.project.config["slurm"]["node"]))]


def _surprises(spec: Spec, body: dict[str, Any], node: dict[str, Any]) -> list[Finding]:
    """A CRON trigger that leaves catchup implicit; steps larger than the cluster's node."""
    trigger = body["trigger"]
    late = catchup_warning(spec, trigger.get("cron"), "catchup" in spec.body, ("spec", "trigger"))
    findings = [late] if late else []
    limits = {"cpu": node.get("cpus"), "memory_gb": node.get("memory_gb"), "gpu": node.get("gpus")}
    for i, step in enumerate(body["steps"]):
        resources = step["config"]["resources"]
        for key, limit in limits.items():
            if limit is not None and resources.get(key, 0) > limit:
                findings.append(
                    spec.finding(
                        ("spec", "steps", i, "config", "resources", key),
                        "DS223",
                        f"step `{step['name']}` asks for {key} {resources[key]}, "
                        "but the Slurm node "
                        f"has {limit}: the job is refused or pends forever",
                        "lower the request, "
                        "or update `slurm.node` in dagspec.yaml if the node grew",
                        severity=Severity.WARNING,
                    )
                )
    return findings


def _check(spec: Spec, body: dict[str, Any]) -> list[Finding]:
    steps = body["steps"]
    findings = duplicate_names(spec, steps, ("spec", "steps"), "step")
    findings += param_findings(spec, body["params"], body["trigger"]["type"] != "MANUAL")
    for name, software in body["software"].items():
        if "latest" in software and software["latest"] not in software["versions"]:
            findings.append(
                spec.finding(
                    ("spec", "software", name, "latest"),
                    "DS202",
                    f"latest version `{software['latest']}` of `{name}` is not one of its versions",
                    did_you_mean(software["latest"], software["versions"])
                    or f"registered: {', '.join(software['versions'])}",
                )
            )
    names = [s["name"] for s in steps]
    by_name = {s["name"]: s for s in steps}
    for i, step in enumerate(steps):
        at = ("spec", "steps", i)
        software = body["software"].get(step["software"])
        if software is None:
            findings.append(
                spec.finding(
                    (*at, "software"),
                    "DS202",
                    f"software `{step['software']}` is not declared in `spec.software`",
                    did_you_mean(step["software"], list(body["software"])),
                )
            )
        elif step.get("pinned_version") and step["pinned_version"] not in software["versions"]:
            findings.append(
                spec.finding(
                    (*at, "pinned_version"),
                    "DS202",
                    f"version `{step['pinned_version']}` is not a registered version of "
                    f"`{step['software']}`",
                    did_you_mean(step["pinned_version"], software["versions"])
                    or f"registered: {', '.join(software['versions'])}",
                )
            )
        for j, upstream in enumerate(step["depends_on"]):
            where = (*at, "depends_on", j)
            if upstream not in by_name:
                findings.append(
                    spec.finding(
                        where,
                        "DS202",
                        f"no step is named `{upstream}`",
                        did_you_mean(upstream, names),
                    )
                )
            elif not set(step["group_by"]) <= set(by_name[upstream]["group_by"]):
                findings.append(
                    spec.finding(
                        (*at, "group_by"),
                        "DS212",
                        f"group_by {step['group_by']} is finer than upstream `{upstream}`'s "
                        f"{by_name[upstream]['group_by']}",
                        "a step can only keep or drop "
                        "the group_by fields of the steps it depends on",
                    )
                )
    return findings + _cycles(spec, steps)  # a cycle is reported whatever else is wrong


def _cycles(spec: Spec, steps: list[dict[str, Any]]) -> list[Finding]:
    upstream = {s["name"]: s["depends_on"] for s in steps}
    state: dict[str, int] = {}
    for i, step in enumerate(steps):
        trail = _find_cycle(step["name"], upstream, state, [])
        if trail:
            return [
                spec.finding(
                    ("spec", "steps", i, "depends_on"),
                    "DS203",
                    f"`depends_on` forms a cycle: {' → '.join(trail)}",
                    "remove one of these dependencies",
                )
            ]
    return []


def _find_cycle(
    node: str, upstream: dict[str, list[str]], state: dict[str, int], stack: list[str]
) -> list[str] | None:
    if state.get(node) == 2:
        return None
    if state.get(node) == 1:
        return [*stack[stack.index(node) :], node]
    state[node] = 1
    for parent in (p for p in upstream[node] if p in upstream):  # unknown names: DS202
        found = _find_cycle(parent, upstream, state, [*stack, node])
        if found:
            return found
    state[node] = 2
    return None


def _ordered(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps in dependency order (stable: spec order among independent steps)."""
    done: list[str] = []
    pending = list(steps)
    while pending:
        ready = next(s for s in pending if set(s["depends_on"]) <= set(done))
        pending.remove(ready)
        done.append(ready["name"])
    by_name = {s["name"]: s for s in steps}
    return [by_name[name] for name in done]


def _group_id(group_by: list[str]) -> str:
    return "per_" + "_".join(group_by) if group_by else "all_data"


def _model(
    spec: Spec, body: dict[str, Any], analysis: Analysis, notify: NotifyCode | None
) -> ReductionDag:
    config = analysis.project.config
    slurm, meta, storage = config["slurm"], config["meta"], config["storage"]["url"]
    trigger = body["trigger"]
    schedule = trigger.get("cron") if trigger["type"] == "CRON" else SCHEDULES[trigger["type"]]
    continuous = trigger["type"] == "CONTINUOUS"
    priority = body["priority"]
    processing = body["processing"]
    steps = _ordered(body["steps"])
    configs = {
        s["name"]: {k: v for k, v in s.items() if k not in ("deps", "outs", "description", *KEYS)}
        for s in steps
    }
    pipeline = {
        "name": spec.name,
        "priority": priority,
        "data_grouping": body["data_grouping"],
        "software": body["software"],
    }
    meta_args = {"meta_conn_id": meta["conn_id"], "meta_sqlite_path": meta["sqlite_path"]}
    dag_level = inherit(
        project_settings(analysis), spec_settings(spec, aliases={"priority": "priority_weight"})
    )
    # the bookkeeping tasks state the pipeline's priority; the pool reaches only the steps
    shared = {**{k: v for k, v in dag_level.items() if k != "pool"}, "priority_weight": priority}
    taken = {*template_names("reduction.py.j2"), "Param", "task_group", *dir(builtins)}
    first: list[Task] = []
    if continuous:
        first.append(
            Task(
                "wait_for_new_data",
                "WaitForNewDataOperator",
                "reduction.wait_for_new_data",
                arguments={
                    "pipeline": pipeline,
                    "poll_seconds": trigger.get("poll_seconds", 60),
                    "products_root": body["products_root"],
                },
                settings=shared,
                var="wait",
            )
        )
    register = Task(
        "register_software",
        "RegisterSoftwareOperator",
        "reduction.register_software",
        arguments={"pipeline": pipeline, **meta_args},
        settings=shared,
        upstream=tuple(t.task_id for t in first),
        var="software",
    )
    # Steps sharing a group_by share a mapped task group, in the order they first appear.
    grouped: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    names: dict[tuple[str, ...], tuple[str, str, str]] = {}  # group id, discover, result
    variables: dict[str, str] = {}  # step name → its variable
    for step in steps:
        key = tuple(step["group_by"])
        if key not in names:
            group_id = python_name(_group_id(step["group_by"]), taken)
            discover_var = python_name(f"discover_{group_id}", taken)
            names[key] = (group_id, discover_var, python_name(f"{group_id}_runs", taken))
        grouped.setdefault(key, []).append(step)
        variables[step["name"]] = python_name(f"{names[key][0]}_{step['name']}", taken)
    raw_steps = {s["name"]: s for s in spec.body["steps"]}
    groups: list[Group] = []
    task_ids: dict[str, str] = {}  # step name → task id
    leaves: dict[str, list[str]] = {}  # group result → task ids of its last steps
    all_args = []
    for key, members in grouped.items():
        group_id, discover_id, result = names[key]
        local = {s["name"] for s in members}
        after: list[str] = []
        for step in members:
            for upstream in step["depends_on"]:
                if upstream in local:
                    continue
                other = next(g for g in groups if any(upstream == t.name for t in g.tasks()))
                if other.result not in after:
                    after.append(other.result)
        made = []
        for step in members:
            name = step["name"]
            task_ids[name] = f"{group_id}.{name}"
            settings = inherit(dag_level, stated(raw_steps[name], {"max_retries": "retries"}))
            # The step operator defaults retries and priority from the step and pipeline, and
            # the pool reaches only the steps: state these three on every step.
            args = task_kwargs(
                settings,
                base={
                    k: v
                    for k, v in dag_level.items()
                    if k not in ("retries", "priority_weight", "pool")
                },
            )
            defaults = {"retries": 0, "priority_weight": priority}
            args += [(k, literal(v)) for k, v in defaults.items() if k not in settings]
            all_args.append(args)
            inside = [u for u in step["depends_on"] if u in local]
            upstream = tuple(task_ids[u] for u in inside) or (
                discover_id,
                *(leaf for result_var in after for leaf in leaves[result_var]),
            )
            task = Task(
                task_ids[name],
                "ReductionStepOperator",
                "reduction.step",
                group=group_id,
                arguments={
                    "pipeline": pipeline,
                    "step": configs[name],
                    "upstream_tasks": [task_ids[u] for u in step["depends_on"]],
                    "products_root": body["products_root"],
                    "partition": processing.get("partition", slurm["partition"]),
                    "account": processing.get("account", slurm["account"]),
                    "storage": storage,
                    **meta_args,
                },
                settings=settings,
                defaults=defaults,
                upstream=upstream,
                mapped_over=discover_id,
                max_active=configs[name]["max_concurrent_runs"],
                var=variables[name],
                airflow_args=tuple(args),
                description=raw_steps[name].get("description"),
            )
            made.append(Step(task, tuple(variables[u] for u in inside), configs[name]))
        discover = Task(
            discover_id,
            "DiscoverSubGroupsOperator",
            "reduction.discover",
            arguments={
                "pipeline": pipeline,
                "group_by": list(key),
                "cooldown_seconds": max(0, *(s["cooldown_seconds"] for s in members)),
                **meta_args,
            },
            settings=shared,
            upstream=(register.task_id,),
            var=discover_id,
        )
        group = Group(group_id, group_id, result, key, discover, tuple(made), tuple(after))
        inner = {u for step in made for u in step.task.upstream}
        leaves[result] = [s.task.task_id for s in made if s.task.task_id not in inner]
        groups.append(group)
    description = spec.doc.data["metadata"].get("description") or f"Reduction {spec.name}"
    return ReductionDag(
        dag_id=spec.name,
        kind="ReductionPipeline",
        docstring=f"Reduction pipeline `{spec.name}`: {description}",
        arguments=Arguments(
            description=description,
            schedule=schedule,
            catchup=body["catchup"] and schedule is not None,
            start_date=start_date(analysis),
            max_active_runs=1,
            tags=tags(spec, "reduction", trigger["type"].lower()),
            default_args=default_args(dag_level, with_pool=False, notify=notify),
            paused=not body["enabled"],
        ),
        params=trigger_params(
            [
                param(
                    "filter_rules",
                    {},
                    "object",
                    "Extra filter rules",
                    "Package metadata that must also match, e.g. "
                    '{"executed_obs_unit": "scan1"}: reduce only those sub-groups.',
                )
            ],
            body["params"],
        ),
        settings=dag_level,
        tasks=(
            *first,
            register,
            *(t for g in groups for t in (g.discover, *(s.task for s in g.steps))),
        ),
        sdk_imports=("DAG", "Param", "task_group"),
        timedelta=needs_timedelta(task_kwargs(dag_level), *all_args),
        notify=notify,
        storage=storage,
        continuous=continuous,
        poll_seconds=trigger.get("poll_seconds", 60),
        priority=priority,
        pipeline=pipeline,
        steps=configs,
        meta_conn_id=meta["conn_id"],
        meta_sqlite_path=meta["sqlite_path"],
        partition=processing.get("partition", slurm["partition"]),
        account=processing.get("account", slurm["account"]),
        products_root=body["products_root"],
        groups=tuple(groups),
    )


def _add_artifacts(target: Target, spec: Spec, body: dict[str, Any]) -> None:
    """Deps are read by the first task; outs come from the step that declares them."""
    dag = target.dag
    assert isinstance(dag, ReductionDag)
    first = "wait_for_new_data" if dag.continuous else "register_software"
    target.order[first] = 0
    for rank, group in enumerate(dag.groups, start=1):
        for offset, step in enumerate(group.steps):
            target.order[step.task.task_id] = rank * 100 + offset
    task_ids = {s.task.name: s.task.task_id for g in dag.groups for s in g.steps}
    for i, step in enumerate(body["steps"]):
        task = task_ids[step["name"]]
        target.consumes.extend(
            Artifact(p, first, spec, ("spec", "steps", i, "deps", j))
            for j, p in enumerate(step["deps"])
        )
        target.produces.extend(
            Artifact(p, task, spec, ("spec", "steps", i, "outs", j))
            for j, p in enumerate(step["outs"])
        )
