"""The Entity kind (phased modules, workspace, promotion): meaning checks and the DAG model."""

from __future__ import annotations

import builtins
import shlex
from collections.abc import Callable
from typing import Any

from compiler.dag import Arguments, EntityDag, Module, NotifyCode, Param, Phase, Task
from compiler.docs import module_doc
from compiler.findings import Finding, Severity
from compiler.kinds.common import (
    ALL_DONE,
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
from compiler.settings import inherit, needs_timedelta, stated, task_kwargs
from compiler.validate import did_you_mean

TEMPLATE = "entity.py.j2"
Origin = Callable[[str], Spec]  # which spec of an `extends` chain a top-level key came from


def check_project(analysis: Analysis) -> None:
    """Every entity in the project's list needs an Entity spec."""
    project = analysis.project
    if project.doc is None or "" in analysis.broken:
        return  # a spec file that cannot be read might be the one listed: its own finding says
    for i, name in enumerate(project.config["entities"]):
        spec = analysis.specs.get(name)
        if name not in analysis.broken and (spec is None or spec.kind != "Entity"):
            entities = [s.name for s in analysis.specs.values() if s.kind == "Entity"]
            line, col = project.doc.marks.locate(("spec", "entities", i))
            analysis.add(
                [
                    Finding(
                        project.doc.file,
                        line,
                        col,
                        "DS202",
                        f"entity `{name}` is listed but no Entity spec has that name",
                        f"spec.entities[{i}]",
                        did_you_mean(name, entities) or f"add a spec with `metadata.name: {name}`",
                    )
                ]
            )


def plan(spec: Spec, analysis: Analysis) -> list[tuple[Target | None, list[Finding]]]:
    return [_plan(spec, analysis)]


def _plan(spec: Spec, analysis: Analysis) -> tuple[Target | None, list[Finding]]:
    chain, findings = _extends_chain(spec, analysis)
    if findings or not chain:
        return None, findings
    body = _merged(chain)
    origin = _origin(chain)
    checked = _check(body, origin, analysis) + param_findings(
        origin("params"), body["params"], body["schedule"] is not None
    )
    findings = [
        f if f.file == spec.doc.file else f.with_related(spec.place(("metadata", "name")))
        for f in checked  # an ancestor's error breaks this DAG too
    ]
    findings += _check_pools(chain, origin, analysis)
    if body["abstract"]:
        return None, findings
    listed = analysis.project.config["entities"]
    if spec.name not in listed:
        findings.append(
            spec.finding(
                ("metadata", "name"),
                "DS204",
                f"entity `{spec.name}` is not in the project's entity list, so it gets no DAG",
                f"add `{spec.name}` to `spec.entities` in dagspec.yaml, "
                "or set `spec.abstract: true`",
                severity=Severity.WARNING,
            )
        )
        return None, findings
    notify, notify_findings = notify_model(origin("notify"), analysis, _raw(chain).get("notify"))
    findings += notify_findings
    if any(f.severity is Severity.ERROR for f in findings):
        return None, findings
    dag = _model(spec, body, analysis, _raw(chain), notify_code(notify))
    target = Target.of(dag, TEMPLATE, chain)
    _add_artifacts(target, spec.name, body, origin)
    return target, findings


def _extends_chain(spec: Spec, analysis: Analysis) -> tuple[list[Spec], list[Finding]]:
    chain = [spec]
    while "extends" in chain[-1].body:
        current = chain[-1]
        parent_name = current.body["extends"]
        parent = analysis.specs.get(parent_name)
        if parent_name in analysis.broken:
            return [], []  # the parent's own findings say what to fix
        if parent is None or parent.kind != "Entity":
            entities = [s.name for s in analysis.specs.values() if s.kind == "Entity"]
            return chain, [
                current.finding(
                    ("spec", "extends"),
                    "DS202",
                    f"`extends` names `{parent_name}`, but no Entity spec has that name",
                    did_you_mean(parent_name, entities) or "name an Entity spec of this project",
                )
            ]
        if parent in chain:
            cycle = " → ".join(s.name for s in [*chain[chain.index(parent) :], parent])
            return chain, [
                spec.finding(
                    ("spec", "extends"),
                    "DS203",
                    f"`extends` forms a cycle: {cycle}",
                    "remove `extends` from one spec of the cycle",
                )
            ]
        chain.append(parent)
    return chain, []


def _merged(chain: list[Spec]) -> dict[str, Any]:
    """The child's keys over its ancestors' keys, then schema defaults."""
    body: dict[str, Any] = {}
    for spec in reversed(chain):
        body.update({k: v for k, v in spec.body.items() if k not in ("extends", "abstract")})
    body["abstract"] = chain[0].body.get("abstract", False)
    doc = {**chain[0].doc.data, "spec": body}
    merged: dict[str, Any] = apply_defaults("Entity", doc)["spec"]
    return merged


def _raw(chain: list[Spec]) -> dict[str, Any]:
    """The merged spec as written (no schema defaults): the levels of the task settings."""
    body: dict[str, Any] = {}
    for spec in reversed(chain):
        body.update(spec.body)
    return body


def _check_pools(chain: list[Spec], origin: Origin, analysis: Analysis) -> list[Finding]:
    """Pools named on phases and modules must be declared (the spec's own is checked in _check)."""
    raw = _raw(chain)
    levels = [
        (("spec", "phases", p, *rest), level)
        for p, phase in enumerate(raw.get("phases", []))
        for rest, level in [
            ((), phase),
            *((("modules", m), module) for m, module in enumerate(phase.get("modules", []))),
        ]
    ]
    return undeclared_pools(origin("phases"), analysis, levels, check_default=False)


def _origin(chain: list[Spec]) -> Origin:
    """Which spec of the chain a top-level key of the merged spec came from."""

    def spec_for(key: str) -> Spec:
        return next((s for s in chain if key in s.body), chain[0])

    return spec_for


def _check(body: dict[str, Any], origin: Origin, analysis: Analysis) -> list[Finding]:
    findings: list[Finding] = []
    if "phases" not in body:
        owner = origin("phases")
        return [
            owner.finding(
                ("spec",),
                "DS102",
                "missing key `phases`",
                "add `phases:` here or in the spec named by `extends`",
            )
        ]
    phases_spec = origin("phases")
    findings += duplicate_names(phases_spec, body["phases"], ("spec", "phases"), "phase")
    seen_modules: dict[str, tuple[int, str, int]] = {}
    produced: dict[str, str] = {}  # workspace path → module, from earlier phases
    for p, phase in enumerate(body["phases"]):
        at = ("spec", "phases", p)
        this_phase: dict[str, str] = {}
        for m, module in enumerate(phase["modules"]):
            mat = (*at, "modules", m)
            if module["name"] in seen_modules:
                first = phases_spec.where(("spec", "phases", *seen_modules[module["name"]], "name"))
                findings.append(
                    phases_spec.finding(
                        (*mat, "name"),
                        "DS201",
                        f"module `{module['name']}` is already defined at {first}",
                        "module names are task ids: make them unique in the entity",
                    )
                )
            seen_modules.setdefault(module["name"], (p, "modules", m))
            if isinstance(module["command"], str):
                try:
                    shlex.split(module["command"])
                except ValueError as exc:
                    findings.append(
                        phases_spec.finding(
                            (*mat, "command"),
                            "DS105",
                            f"the command cannot be split into arguments: {str(exc).lower()}",
                            "close the quote, or write the command as a list of arguments",
                        )
                    )
            for i, output in enumerate(module["outputs"]):
                if not output.startswith(f"{phase['name']}/"):
                    findings.append(
                        phases_spec.finding(
                            (*mat, "outputs", i),
                            "DS205",
                            f"output `{output}` is outside the phase folder `{phase['name']}/`",
                            f"write it as `{phase['name']}/{output.split('/')[-1]}`",
                        )
                    )
                this_phase[output] = module["name"]
            for key, path in module["inputs"].items():
                if path not in produced:
                    later = (
                        " (it is written by a module of this or a later phase)"
                        if any(
                            path in ph_m.get("outputs", [])
                            for ph in body["phases"][p:]
                            for ph_m in ph["modules"]
                        )
                        else ""
                    )
                    findings.append(
                        phases_spec.finding(
                            (*mat, "inputs", key),
                            "DS202",
                            f"input `{path}` is not an output of any module "
                            f"of an earlier phase{later}",
                            did_you_mean(path, list(produced))
                            or "list it under `outputs:` of a module in an earlier phase",
                        )
                    )
        produced.update(this_phase)
    promote_spec = origin("promote")
    for i, item in enumerate(body["promote"]):
        if item["from"] not in produced:
            findings.append(
                promote_spec.finding(
                    ("spec", "promote", i, "from"),
                    "DS202",
                    f"`{item['from']}` is not an output of any module",
                    did_you_mean(item["from"], list(produced))
                    or "list it under a module's `outputs:`",
                )
            )
    pool = body.get("pool") or analysis.project.config["defaults"]["pool"]
    pools = analysis.project.config["pools"]
    if pool not in pools:
        where = ("spec", "pool") if "pool" in body else ("spec",)
        findings.append(
            origin("pool").finding(
                where,
                "DS202",
                f"pool `{pool}` is not declared in the project's `pools`",
                did_you_mean(pool, list(pools))
                or f"add `{pool}` under `spec.pools` in dagspec.yaml",
            )
        )
    return findings + _surprises(body, origin, pools.get(pool))


def _surprises(body: dict[str, Any], origin: Origin, pool: dict[str, Any] | None) -> list[Finding]:
    """Warnings for what compiles but will surprise people once Airflow runs it."""
    phases = origin("phases")
    stated = "catchup" in origin("catchup").body
    findings = [catchup_warning(origin("schedule"), body["schedule"], stated, ("spec", "schedule"))]
    for p, phase in enumerate(body["phases"]):
        if pool is not None and len(phase["modules"]) > pool["slots"]:
            findings.append(
                phases.finding(
                    ("spec", "phases", p, "modules"),
                    "DS222",
                    f"phase `{phase['name']}` runs {len(phase['modules'])} modules at once, "
                    "but its "
                    f"pool has {pool['slots']} slots: the rest wait",
                    "raise the pool's slots in dagspec.yaml, or split the phase",
                    severity=Severity.WARNING,
                )
            )
        for m, module in enumerate(phase["modules"]):
            if not module["outputs"]:
                findings.append(
                    phases.finding(
                        ("spec", "phases", p, "modules", m, "name"),
                        "DS221",
                        f"module `{module['name']}` declares no outputs: nothing it writes can be "
                        "promoted or read by a later phase",
                        "list what it writes under `outputs:` (or ignore this for a check-only "
                        "module)",
                        severity=Severity.WARNING,
                    )
                )
    return [f for f in findings if f is not None]


def _model(
    spec: Spec,
    body: dict[str, Any],
    analysis: Analysis,
    raw: dict[str, Any],
    notify: NotifyCode | None,
) -> EntityDag:
    config = analysis.project.config
    taken = {*template_names("entity.py.j2"), "Param", "TaskGroup", *dir(builtins)}
    dag_level = inherit(project_settings(analysis), spec_settings(spec, raw))
    if "pool" not in dag_level:  # the project's default pool, also for an older config
        dag_level["pool"] = config["defaults"]["pool"]
    shared = {k: v for k, v in dag_level.items() if k != "pool"}  # default_args: no pool
    entity = spec.name
    module_settings = [
        [
            inherit(dag_level, stated(raw_phase), stated(raw_module))
            for raw_module in raw_phase["modules"]
        ]
        for raw_phase in raw["phases"]
    ]
    # One pool for all modules goes into the shared MODULE arguments; else each module names its.
    own_pools = any(s["pool"] != dag_level["pool"] for p in module_settings for s in p)
    prepare = Task(
        "prepare_workspace",
        "PrepareWorkspaceOperator",
        "entity.prepare_workspace",
        arguments={
            "entity": entity,
            "phases": [p["name"] for p in body["phases"]],
            "base_dir": config["workspace"]["base_dir"],
            "prefix": config["workspace"]["prefix"],
            "storage": config["storage"]["url"],
        },
        settings=shared,
        var="workspace",
    )
    phases = []
    all_args = []
    previous: tuple[str, ...] = (prepare.task_id,)
    for phase, raw_phase, levels in zip(
        body["phases"], raw["phases"], module_settings, strict=True
    ):
        name = phase["name"]
        var = python_name(name, taken)
        modules = []
        for module, raw_module, settings in zip(
            phase["modules"], raw_phase["modules"], levels, strict=True
        ):
            args = task_kwargs(settings, base=dag_level)
            if own_pools and all(key != "pool" for key, _ in args):
                args.insert(0, ("pool", literal(settings["pool"])))
            all_args.append(args)
            command = _argv(module["command"])
            timeout = raw_module.get("timeout_seconds")  # as stated: the operator's default else
            task = Task(
                f"{name}.{module['name']}",
                "ModuleOperator",
                "entity.module",
                group=name,
                arguments={
                    "entity": entity,
                    "phase": name,
                    "module": module["name"],
                    "command": command,
                    "inputs": module["inputs"],
                    "env": {**body["env"], **module["env"]},
                    **({} if timeout is None else {"timeout_seconds": timeout}),
                },
                settings=settings,
                upstream=previous,
                var=python_name(f"{name}__{module['name']}", taken),
                airflow_args=tuple(args),
                description=module.get("description"),
            )
            doc = module_doc(
                task.task_id,
                module.get("description"),
                command,
                module["inputs"],
                module["outputs"],
            )
            modules.append(Module(task, module["required"], tuple(module["outputs"]), literal(doc)))
        gate = Task(
            f"{name}.gate",
            "PhaseGateOperator",
            "entity.gate",
            group=name,
            arguments={
                "phase": name,
                "modules": {m["name"]: m["required"] for m in phase["modules"]},
            },
            settings=shared,
            upstream=tuple(m.task.task_id for m in modules),
            trigger_rule=ALL_DONE,
            rooted=False,
            var=python_name(f"{name}__gate", taken),
        )
        phases.append(
            Phase(
                name,
                var,
                phase.get("description", f"Phase {name}"),
                phase.get("description"),
                tuple(modules),
                gate,
            )
        )
        previous = (gate.task_id,)
    promote = Task(
        "promote",
        "PromoteOperator",
        "entity.promote",
        arguments={
            "entity": entity,
            "mapping": {item["from"]: item["to"] for item in body["promote"]},
        },
        settings=shared,
        upstream=previous,
        trigger_rule=ALL_DONE,
        var="promote",
    )
    result = Task(
        "pipeline_result",
        "PipelineResultOperator",
        "entity.result",
        arguments={
            "entity": entity,
            "phases": {p["name"]: [m["name"] for m in p["modules"]] for p in body["phases"]},
            "result_path": body["result_path"],
        },
        settings=shared,
        upstream=(promote.task_id,),
        trigger_rule=ALL_DONE,
        var="result",
    )
    tasks = (
        prepare,
        *(t for p in phases for t in (*(m.task for m in p.modules), p.gate)),
        promote,
        result,
    )
    description = spec.doc.data["metadata"].get("description") or f"Entity pipeline {entity}"
    return EntityDag(
        dag_id=entity,
        kind="Entity",
        docstring=f"Entity pipeline `{entity}`: {description}",
        arguments=Arguments(
            description=description,
            schedule=body["schedule"],
            catchup=body["catchup"],
            start_date=start_date(analysis),
            # Airflow refuses a continuous timetable with more than one active run.
            max_active_runs=1 if body["schedule"] == "@continuous" else 16,
            tags=tags(spec, "entity"),
            default_args=default_args(dag_level, with_pool=False, notify=notify),
        ),
        params=_params(body, config),
        settings=dag_level,
        tasks=tasks,
        sdk_imports=("DAG", "Param", "TaskGroup"),
        timedelta=needs_timedelta(task_kwargs(dag_level), *all_args),
        notify=notify,
        storage=config["storage"]["url"],
        entity=entity,
        pool=None if own_pools else dag_level["pool"],
        phases=tuple(phases),
        prepare=prepare,
        promote=promote,
        result=result,
    )


def _add_artifacts(target: Target, entity: str, body: dict[str, Any], origin: Origin) -> None:
    """Task order, and the project paths each task reads and writes."""

    phases_spec, promote_spec = origin("phases"), origin("promote")
    target.order["prepare_workspace"] = 0
    for p, phase in enumerate(body["phases"]):
        for m, module in enumerate(phase["modules"]):
            task = f"{phase['name']}.{module['name']}"
            target.order[task] = 2 * p + 1
            at = ("spec", "phases", p, "modules", m)
            for key, bucket in (("deps", target.consumes), ("outs", target.produces)):
                bucket.extend(
                    Artifact(path.replace("{entity}", entity), task, phases_spec, (*at, key, i))
                    for i, path in enumerate(module[key])
                )
        target.order[f"{phase['name']}.gate"] = 2 * p + 2
    target.order["promote"] = 2 * len(body["phases"]) + 1
    target.order["pipeline_result"] = 2 * len(body["phases"]) + 2
    target.produces.extend(
        Artifact(
            item["to"].replace("{entity}", entity),
            "promote",
            promote_spec,
            ("spec", "promote", i, "to"),
        )
        for i, item in enumerate(body["promote"])
    )


def _argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def _params(body: dict[str, Any], config: dict[str, Any]) -> tuple[Param, ...]:
    """Trigger-form fields: target, dry run and keep workspace, then the spec author's own."""
    targets = config["targets"]
    return trigger_params(
        [
            param(
                "target",
                targets[0],
                "string",
                "Target",
                "Environment the modules deploy to.",
                enum=targets,
            ),
            param(
                "dry_run",
                False,
                "boolean",
                "Dry run",
                "Modules skip side effects; nothing is promoted.",
            ),
            param(
                "keep_workspace",
                body["keep_workspace"],
                "boolean",
                "Keep workspace",
                "Leave the run's workspace on disk for debugging.",
            ),
        ],
        body["params"],
    )
