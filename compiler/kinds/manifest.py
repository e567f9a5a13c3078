"""The Manifest kind (ETL processes behind fail-closed gates): meaning checks and DAG models.

Each process becomes its own DAG, `<manifest>.<process>`: processes fail, retry and get
triggered independently, as `dagspec run --selector` runs one of them.
"""

from __future__ import annotations

import codecs
from typing import Any

from compiler.dag import Arguments, ManifestDag, NotifyCode, Task
from compiler.findings import Finding
from compiler.findings import Path as SpecPath
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
from compiler.schemas import apply_defaults
from compiler.settings import KEYS, inherit, needs_timedelta, stated, task_kwargs
from compiler.validate import did_you_mean

TEMPLATE = "manifest.py.j2"
GATES = [
    "extract",
    "contract",
    "evolution",
    "compatibility",
    "ddl",
    "stage",
    "finalize",
    "evidence",
    "audit",
    "state",
]


def check_project(analysis: Analysis) -> None:
    """No two processes of the project write one table (DS207): a sink, its staging table or a
    mart of one process equal to one of another, compared as table identities (`main.orders`,
    `public.orders` and `orders` in one database are one table)."""
    seen: dict[tuple[str, str], tuple[Spec, str, str, SpecPath]] = {}
    reported: set[tuple[str, int, tuple[str, ...]]] = set()
    for spec in sorted(analysis.specs.values(), key=lambda s: (s.doc.file, s.name)):
        if spec.kind != "Manifest":
            continue
        for i, process in enumerate(spec.body.get("processes", [])):
            at = ("spec", "processes", i)
            for where, role, name in _roles(process):
                key = (process.get("sink", {}).get("conn_id") or "", table_identity(name))
                first = seen.get(key)
                if first is None:
                    seen[key] = (spec, process["name"], f"{role} table `{name}`", (*at, *where))
                    continue
                other, other_process, what, other_at = first
                if (other is spec and other_process == process["name"]) or (
                    spec.name,
                    i,
                    where,
                ) in reported:
                    continue  # within one process _table_clashes says it; one finding a place
                reported.add((spec.name, i, where))
                line = other.doc.marks.locate(other_at)[0]
                analysis.add(
                    [
                        spec.finding(
                            (*at, *where),
                            "DS207",
                            f"the {role} table `{name}` is the {what} of process "
                            f"`{other_process}` ({other.doc.file}:{line})",
                            "give every process its own sink and mart tables",
                        )
                    ]
                )


def table_identity(name: str) -> str:
    """`main.` (SQLite) and `public.` (PostgreSQL) are the default schemas; names fold to lower
    case, as unquoted SQL names do on both."""
    schema, _, table = name.lower().rpartition(".")
    return table if schema in ("", "main", "public") else f"{schema}.{table}"


def _roles(process: dict[str, Any]) -> list[tuple[tuple[str, ...], str, str]]:
    sink = process["sink"]["table"]
    roles: list[tuple[tuple[str, ...], str, str]] = [
        (("sink", "table"), "sink", sink),
        (("sink", "table"), "staging", sink + "__dgs_stage"),
    ]
    if "publish" in process:
        roles.append((("publish", "table"), "mart", process["publish"]["table"]))
    return roles


def dag_id(manifest: str, process: str) -> str:
    return f"{manifest}.{process}"


def plan(spec: Spec, analysis: Analysis) -> list[tuple[Target | None, list[Finding]]]:
    body = apply_defaults("Manifest", spec.doc.data)["spec"]
    processes = body["processes"]
    findings = duplicate_names(spec, processes, ("spec", "processes"), "process")
    findings += undeclared_pools(
        spec,
        analysis,
        [(("spec",), spec.body)]
        + [(("spec", "processes", i), p) for i, p in enumerate(spec.body["processes"])],
    )
    findings += param_findings(spec, body["params"], body["schedule"] is not None)
    late = catchup_warning(spec, body["schedule"], "catchup" in spec.body, ("spec", "schedule"))
    notify, notify_findings = notify_model(spec, analysis, spec.body.get("notify"))
    findings += notify_findings
    plans: list[tuple[Target | None, list[Finding]]] = [(None, findings + ([late] if late else []))]
    for i, process in enumerate(processes):
        problems = _check(spec, process, ("spec", "processes", i))
        model = (
            None
            if problems or findings
            else _model(
                spec, body, process, spec.body["processes"][i], analysis, notify_code(notify)
            )
        )
        target = None
        if model is not None:
            target = Target.of(model, TEMPLATE, [spec])
            _add_artifacts(target, spec, process, ("spec", "processes", i))
        plans.append((target, problems))
    return plans


def _add_artifacts(target: Target, spec: Spec, process: dict[str, Any], at: SpecPath) -> None:
    """Deps are read by `extract`; outs exist once the last gate has committed."""

    gates = list(target.tasks)
    target.order.update({gate: i for i, gate in enumerate(gates)})
    target.consumes.extend(
        Artifact(path, "extract", spec, (*at, "deps", i)) for i, path in enumerate(process["deps"])
    )
    target.produces.extend(
        Artifact(path, gates[-1], spec, (*at, "outs", i)) for i, path in enumerate(process["outs"])
    )


def _check(spec: Spec, process: dict[str, Any], at: SpecPath) -> list[Finding]:
    columns = [c["name"] for c in process["contract"]["columns"]]
    findings = duplicate_names(
        spec, process["contract"]["columns"], (*at, "contract", "columns"), "column"
    )
    for i, column in enumerate(process["contract"]["columns"]):
        if column["type"] == "decimal" and column.get("scale", 0) > column.get("precision", 38):
            findings.append(
                spec.finding(
                    (*at, "contract", "columns", i, "scale"),
                    "DS106",
                    f"scale {column['scale']} is larger than precision {column['precision']}",
                    "scale must be at most the precision",
                )
            )
    findings += _table_clashes(spec, process, at)
    encoding = process["source"].get("encoding")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            findings.append(
                spec.finding(
                    (*at, "source", "encoding"),
                    "DS104",
                    f"`{encoding}` is not a known text encoding",
                    "use a Python codec name such as utf-8, latin-1 or cp1252",
                )
            )
    references = [("sink", "merge_key", process["sink"].get("merge_key", []))]
    if "publish" in process:
        references += [
            ("publish", "group_by", process["publish"]["group_by"]),
            ("publish", "sum", process["publish"]["sum"]),
            ("publish", "avg", process["publish"].get("avg", [])),
        ]
        findings += _measures(spec, process, at)
    if process["source"]["kind"] == "table" and "watermark_column" in process["source"]:
        references.append(("source", "watermark_column", [process["source"]["watermark_column"]]))
    for section, key, names in references:
        for j, name in enumerate(names):
            if name not in columns:
                where = (*at, section, key) if key == "watermark_column" else (*at, section, key, j)
                findings.append(
                    spec.finding(
                        where,
                        "DS202",
                        f"column `{name}` is not in the contract's columns",
                        did_you_mean(name, columns) or f"columns are: {', '.join(columns)}",
                    )
                )
    return findings


def _measures(spec: Spec, process: dict[str, Any], at: SpecPath) -> list[Finding]:
    """Sums and averages are exact arithmetic: only integer and decimal columns qualify."""
    types = {c["name"]: c["type"] for c in process["contract"]["columns"]}
    findings: list[Finding] = []
    for key in ("sum", "avg"):
        for j, name in enumerate(process["publish"].get(key, [])):
            if types.get(name, "integer") not in ("integer", "decimal"):
                findings.append(
                    spec.finding(
                        (*at, "publish", key, j),
                        "DS202",
                        f"column `{name}` is {types[name]}; publish.{key} needs a number",
                        "list only integer or decimal columns under publish." + key,
                    )
                )
    return findings


# Tables the runtime owns in the sink/meta database (plugins/dagspec_runtime/metalog/schema.py,
# etl/target.py); a sink or mart with one of these names would overwrite the bookkeeping.
META_TABLES = (
    "ingestion_log",
    "validation_log",
    "stage_load_log",
    "transform_log",
    "publish_log",
    "load_audit",
    "process_state",
    "unit_actions",
    "dagspec_loaded_units",
)


def _table_clashes(spec: Spec, process: dict[str, Any], at: SpecPath) -> list[Finding]:
    """A mart equal to its sink would be rebuilt from itself; a sink or mart named like a
    meta-log table would write into the run's own bookkeeping."""
    findings: list[Finding] = []
    sink = process["sink"]["table"]
    tables = [(("sink", "table"), sink)]
    if "publish" in process:
        mart = process["publish"]["table"]
        tables.append((("publish", "table"), mart))
        if table_identity(mart) in (table_identity(sink), table_identity(sink + "__dgs_stage")):
            findings.append(
                spec.finding(
                    (*at, "publish", "table"),
                    "DS207",
                    f"the mart table `{mart}` is the sink table `{sink}` (or its staging table)",
                    "give the mart its own table name",
                )
            )
    for where, name in tables:
        bare = name.rpartition(".")[2].lower()
        if bare in META_TABLES or bare.endswith("__dgs_stage"):
            findings.append(
                spec.finding(
                    (*at, *where),
                    "DS207",
                    f"table `{name}` is a name the meta-log uses",
                    f"pick another name; reserved: {', '.join(META_TABLES)}, *__dgs_stage",
                )
            )
    return findings


def _operator_default(key: str, settings: dict[str, Any], process: dict[str, Any]) -> bool:
    """Whether the gate operator would choose this value itself (from PROCESS)."""
    if key == "retries":
        return bool(settings["retries"] == process.get("retries", 0))
    return bool(settings["retry_delay_seconds"] == process.get("retry_backoff_seconds"))


def _model(
    spec: Spec,
    body: dict[str, Any],
    process: dict[str, Any],
    raw: dict[str, Any],
    analysis: Analysis,
    notify: NotifyCode | None,
) -> ManifestDag:
    meta = analysis.project.config["meta"]
    storage = analysis.project.config["storage"]["url"]
    runtime = {
        k: v
        for k, v in process.items()
        if k not in ("description", "deps", "outs") and (k == "retries" or k not in KEYS)
    }
    gates = GATES + (["publish"] if "publish" in process else [])
    settings = inherit(
        project_settings(analysis),
        spec_settings(spec),
        stated(raw, {"retry_backoff_seconds": "retry_delay_seconds"}),
    )
    args = task_kwargs(settings)
    name = dag_id(spec.name, process["name"])
    description = (
        process.get("description")
        or spec.doc.data["metadata"].get("description")
        or f"ETL process {process['name']}"
    )
    # the gate operator's own choice (from PROCESS), when the settings state none
    retry = {
        "retries": process.get("retries", 0),
        "retry_delay_seconds": process.get("retry_backoff_seconds"),
    }
    tasks = tuple(
        Task(
            gate,
            "ManifestGateOperator",
            "etl.gate",
            arguments={
                "gate": gate,
                "process": runtime,
                "meta_conn_id": meta["conn_id"],
                "meta_sqlite_path": meta["sqlite_path"],
                "storage": storage,
            },
            settings=settings,
            defaults=retry,
            upstream=tuple(gates[i - 1 : i]),
            inline=True,  # gates run one after another; an interrupt reaches the gate
            var=gate,
        )
        for i, gate in enumerate(gates)
    )
    return ManifestDag(
        dag_id=name,
        kind="Manifest",
        docstring=f"ETL process `{name}`: {description}",
        arguments=Arguments(
            description=description,
            schedule=body["schedule"],
            catchup=body["catchup"],
            start_date=start_date(analysis),
            max_active_runs=1,
            tags=tags(spec, "manifest", process["name"]),
            default_args=default_args(settings, with_pool=True, notify=notify),
        ),
        params=trigger_params(
            [
                param(
                    "process",
                    process["name"],
                    "string",
                    "Process",
                    "The manifest process this DAG runs (`dagspec run --selector`).",
                    enum=[process["name"]],
                )
            ],
            body["params"],
        ),
        settings=settings,
        tasks=tasks,
        sdk_imports=("DAG", "Param", "chain"),
        timedelta=needs_timedelta(args),
        notify=notify,
        storage=storage,
        process=runtime,
        meta_conn_id=meta["conn_id"],
        meta_sqlite_path=meta["sqlite_path"],
        # The gate operator defaults retries and delay from the process: state them explicitly.
        gate_args=tuple(
            (k, v)
            for k, v in args
            if k in ("retries", "retry_delay") and not _operator_default(k, settings, process)
        ),
    )
