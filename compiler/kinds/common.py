"""Checks and model pieces every kind shares."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from compiler.findings import Finding, Severity
from compiler.model import Analysis, Spec
from compiler.render import literal


def duplicate_names(spec: Spec, items: list[dict[str, Any]], at: tuple, what: str,
                    key: str = "name") -> list[Finding]:
    """A DS201 finding for every item whose name an earlier item already has."""
    first: dict[str, int] = {}
    findings = []
    for i, item in enumerate(items):
        name = item[key]
        if name in first:
            findings.append(spec.finding(
                (*at, i, key), "DS201",
                f"{what} `{name}` is already defined at {spec.where((*at, first[name], key))}",
                f"give every {what} its own name"))
        first.setdefault(name, i)
    return findings


def dag_basics(spec: Spec, analysis: Analysis, dag_id: str, docstring: str, description: str,
               *, tags: list[str], schedule: str | None, catchup: bool,
               sdk_imports: tuple[str, ...] = ("DAG",)) -> dict[str, Any]:
    """The DAG arguments every template takes the same way."""
    config = analysis.project.config
    meta = spec.doc.data["metadata"]
    year, month, day = (int(x) for x in config["defaults"]["start_date"].split("-"))
    return {
        "docstring": docstring,
        "dag_id": dag_id,
        "description": description,
        "owner": meta.get("owner") or config["defaults"]["owner"],
        "tags": sorted({"dagspec", *tags, *meta.get("tags", [])}),
        "schedule": schedule,
        "schedule_code": literal(schedule),  # replaced when the DAG waits for assets
        "catchup": catchup,
        "sdk_imports": list(sdk_imports),
        "asset_defs": [],
        "outlets": {},
        "start_date": (year, month, day),
    }


def catchup_warning(spec: Spec, schedule: str | None, stated: bool, at: tuple) -> Finding | None:
    """A scheduled DAG should say whether missed intervals run (Airflow 3 defaults to not)."""
    if schedule is None or stated or schedule.startswith("@continuous"):
        return None
    return spec.finding(
        at, "DS220",
        f"schedule `{schedule}` without `catchup`: runs missed while the DAG was paused or new "
        "will not happen",
        "state `catchup: false` (or `true` to run every missed interval)",
        severity=Severity.WARNING)


def param(name: str, default: Any, kind: str, title: str, description: str,
          **schema: Any) -> dict[str, Any]:
    """One built-in trigger-form field, as the templates emit it: Param(default, **options)."""
    options = [("type", kind), *schema.items(), ("title", title), ("description", description)]
    return {"name": name, "default": default, "options": options}


def param_findings(spec: Spec, declared: dict[str, dict[str, Any]],
                   scheduled: bool) -> list[Finding]:
    """Airflow refuses to import a scheduled DAG whose params do not all resolve: a scheduled
    run has no one to fill in the form, so every default must satisfy its own schema."""
    if not scheduled:
        return []
    findings = []
    for name, options in declared.items():
        schema = {k: v for k, v in options.items() if k not in ("default", "description")}
        problem = best_match(Draft202012Validator(schema, format_checker=FormatChecker())
                             .iter_errors(options.get("default")))
        if problem is None:
            continue
        at = ("spec", "params", name) + (("default",) if "default" in options else ())
        findings.append(spec.finding(
            at, "DS106",
            f"param `{name}` of a scheduled DAG has " + (
                f"a default that its own schema refuses ({problem.message})"
                if "default" in options else "no default"),
            "give it a default of its type (Airflow will not import a scheduled DAG otherwise), "
            "or drop the schedule"))
    return findings


def trigger_params(builtin: list[dict[str, Any]],
                   declared: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The built-in fields, then those the spec author declared under `params:`."""
    return builtin + [
        {"name": name, "default": spec.get("default"),
         "options": [(k, v) for k, v in spec.items() if k != "default"]}
        for name, spec in declared.items()
    ]
