"""The ReductionPipeline kind (Slurm steps over sub-groups of a data grouping).

Steps that share a `group_by` share one mapped task group, expanded over the sub-groups a
discover task finds at run time: inside it a step runs for a sub-group as soon as its upstream
finished for that same sub-group. A step with a coarser `group_by` (e.g. [] after a per-scan
step) runs after the whole finer group.
"""

from __future__ import annotations

import builtins
from typing import Any

from compiler.findings import Finding, Severity
from compiler.kinds.common import (
    catchup_warning,
    dag_basics,
    default_args,
    duplicate_names,
    notify_code,
    notify_model,
    param,
    param_findings,
    project_settings,
    spec_settings,
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
    target = Target(spec.name, TEMPLATE, _model(spec, body, analysis, notify_code(notify)), [spec])
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
    spec: Spec, body: dict[str, Any], analysis: Analysis, notify: dict[str, Any] | None
) -> dict[str, Any]:
    slurm = analysis.project.config["slurm"]
    meta = analysis.project.config["meta"]
    trigger = body["trigger"]
    schedule = trigger.get("cron") if trigger["type"] == "CRON" else SCHEDULES[trigger["type"]]
    steps = _ordered(body["steps"])
    taken = {*template_names("reduction.py.j2"), "Param", "task_group", *dir(builtins)}
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for step in steps:
        key = tuple(step["group_by"])
        if key not in groups:
            group_id = python_name(_group_id(step["group_by"]), taken)
            groups[key] = {
                "group_id": group_id,
                "func": group_id,
                "discover": python_name(f"discover_{group_id}", taken),
                "result": python_name(f"{group_id}_runs", taken),
                "group_by": step["group_by"],
                "cooldown_seconds": 0,
                "steps": [],
                "after": [],
            }
        group = groups[key]
        group["cooldown_seconds"] = max(group["cooldown_seconds"], step["cooldown_seconds"])
        local = {s["name"] for s in group["steps"]}
        group["steps"].append(
            {
                "name": step["name"],
                "var": python_name(f"{group['group_id']}_{step['name']}", taken),
                "upstream": [u for u in step["depends_on"] if u in local],
            }
        )
        for upstream in step["depends_on"]:
            for other in groups.values():
                if (
                    other is not group
                    and upstream in {s["name"] for s in other["steps"]}
                    and other["result"] not in group["after"]
                ):
                    group["after"].append(other["result"])
    for group in groups.values():
        for step in group["steps"]:
            step["upstream"] = [
                next(s["var"] for s in group["steps"] if s["name"] == u) for u in step["upstream"]
            ]
    dag_level = inherit(
        project_settings(analysis), spec_settings(spec, aliases={"priority": "priority_weight"})
    )
    raw_steps = {s["name"]: s for s in spec.body["steps"]}
    all_args = []
    for group in groups.values():
        for step in group["steps"]:
            settings = inherit(
                dag_level, stated(raw_steps[step["name"]], {"max_retries": "retries"})
            )
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
            defaults: list[tuple[str, Any]] = [
                ("retries", 0),
                ("priority_weight", body["priority"]),
            ]
            for name, value in defaults:
                if name not in settings:
                    args.append((name, literal(value)))
            step["settings"] = settings
            step["description"] = raw_steps[step["name"]].get("description")
            step["args"] = args
            all_args.append(args)
    description = spec.doc.data["metadata"].get("description") or f"Reduction {spec.name}"
    processing = body["processing"]
    return {
        **dag_basics(
            spec,
            analysis,
            spec.name,
            f"Reduction pipeline `{spec.name}`: {description}",
            description,
            tags=["reduction", trigger["type"].lower()],
            schedule=schedule,
            catchup=body["catchup"] and schedule is not None,
            sdk_imports=("DAG", "Param", "task_group"),
        ),
        "owner": dag_level.get("owner"),
        "settings": dag_level,
        "default_args": default_args(dag_level, with_pool=False, notify=notify),
        "notify": notify,
        "timedelta": needs_timedelta(task_kwargs(dag_level), *all_args),
        "paused": not body["enabled"],
        "continuous": trigger["type"] == "CONTINUOUS",
        "poll_seconds": trigger.get("poll_seconds", 60),
        "pipeline": {
            "name": spec.name,
            "priority": body["priority"],
            "data_grouping": body["data_grouping"],
            "software": body["software"],
        },
        "steps": {
            s["name"]: {
                k: v for k, v in s.items() if k not in ("deps", "outs", "description", *KEYS)
            }
            for s in steps
        },
        "meta": {"meta_conn_id": meta["conn_id"], "meta_sqlite_path": meta["sqlite_path"]},
        "partition": processing.get("partition", slurm["partition"]),
        "account": processing.get("account", slurm["account"]),
        "products_root": body["products_root"],
        "storage": analysis.project.config["storage"]["url"],
        "priority": body["priority"],
        "groups": list(groups.values()),
        "params": trigger_params(
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
    }


def _add_graph(target: Target) -> None:
    """Tasks (grouped by mapped task group) and edges, as the template wires them."""
    model = target.model
    target.tasks["register_software"] = None
    if model["continuous"]:
        target.tasks["wait_for_new_data"] = None
        target.edges.append(("wait_for_new_data", "register_software"))
    by_result = {g["result"]: g for g in model["groups"]}
    for group in model["groups"]:
        var_to_task = {s["var"]: f"{group['group_id']}.{s['name']}" for s in group["steps"]}
        target.tasks[group["discover"]] = None
        target.edges.append(("register_software", group["discover"]))
        for step in group["steps"]:
            task = var_to_task[step["var"]]
            target.tasks[task] = group["group_id"]
            target.edges += [(var_to_task[u], task) for u in step["upstream"]]
            if not step["upstream"]:
                target.edges.append((group["discover"], task))
                for after in group["after"]:
                    upstream = by_result[after]
                    target.edges.append(
                        (f"{upstream['group_id']}.{upstream['steps'][-1]['name']}", task)
                    )


def _add_artifacts(target: Target, spec: Spec, body: dict[str, Any]) -> None:
    """Deps are read by the first task; outs come from the step that declares them."""

    first = "wait_for_new_data" if target.model["continuous"] else "register_software"
    target.order[first] = 0
    _add_graph(target)
    for rank, group in enumerate(target.model["groups"], start=1):
        for offset, step in enumerate(group["steps"]):
            target.order[f"{group['group_id']}.{step['name']}"] = rank * 100 + offset
    for i, step in enumerate(body["steps"]):
        task = next(
            f"{g['group_id']}.{step['name']}"
            for g in target.model["groups"]
            if step["name"] in {s["name"] for s in g["steps"]}
        )
        target.consumes.extend(
            Artifact(p, first, spec, ("spec", "steps", i, "deps", j))
            for j, p in enumerate(step["deps"])
        )
        target.produces.extend(
            Artifact(p, task, spec, ("spec", "steps", i, "outs", j))
            for j, p in enumerate(step["outs"])
        )
