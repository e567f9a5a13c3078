"""Checks and model pieces every kind shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compiler.dag import NotifyCode, Param
from compiler.findings import Finding, Severity, format_path
from compiler.findings import Path as SpecPath
from compiler.model import Analysis, Spec
from compiler.render import Code, literal
from compiler.validate import did_you_mean


def duplicate_names(
    spec: Spec, items: list[dict[str, Any]], at: SpecPath, what: str, key: str = "name"
) -> list[Finding]:
    """A DS201 finding for every item whose name an earlier item already has."""
    first: dict[str, int] = {}
    findings = []
    for i, item in enumerate(items):
        name = item[key]
        if name in first:
            findings.append(
                spec.finding(
                    (*at, i, key),
                    "DS201",
                    f"{what} `{name}` is already defined at {spec.where((*at, first[name], key))}",
                    f"give every {what} its own name",
                )
            )
        first.setdefault(name, i)
    return findings


def start_date(analysis: Analysis) -> tuple[int, int, int]:
    """The project's `defaults.start_date` as (year, month, day)."""
    year, month, day = (
        int(x) for x in analysis.project.config["defaults"]["start_date"].split("-")
    )
    return year, month, day


def tags(spec: Spec, *kind_tags: str) -> tuple[str, ...]:
    """The DAG's tags: dagspec's, the kind's and the spec's own, sorted."""
    meta = spec.doc.data["metadata"]
    return tuple(sorted({"dagspec", *kind_tags, *meta.get("tags", [])}))


ALL_DONE = "all_done"  # the trigger rule of tasks that run whatever came before

#: task settings a run plan carries (the names the schemas use)
PLAN_SETTINGS = (
    "retries",
    "retry_delay_seconds",
    "retry_exponential_backoff",
    "pool",
    "priority_weight",
    "execution_timeout_seconds",
)


def plan_settings(*sources: Mapping[str, Any]) -> dict[str, Any]:
    """A task's settings in effect, the nearest source winning (module over phase over spec)."""
    found: dict[str, Any] = {}
    for source in reversed(sources):
        found.update({k: source[k] for k in PLAN_SETTINGS if source.get(k) is not None})
    return found


def catchup_warning(spec: Spec, schedule: str | None, stated: bool, at: SpecPath) -> Finding | None:
    """A scheduled DAG should say whether missed intervals run (Airflow 3 defaults to not)."""
    if schedule is None or stated or schedule.startswith("@continuous"):
        return None
    return spec.finding(
        at,
        "DS220",
        f"schedule `{schedule}` without `catchup`: runs missed while the DAG was paused or new "
        "will not happen",
        "state `catchup: false` (or `true` to run every missed interval)",
        severity=Severity.WARNING,
    )


def param(name: str, default: Any, kind: str, title: str, description: str, **schema: Any) -> Param:
    """One built-in trigger-form field, as the templates emit it: Param(default, **options)."""
    options = (
        ("type", optional(kind)),
        *schema.items(),
        ("title", title),
        ("description", description),
    )
    return Param(name, default, options)


def optional(kind: str) -> list[str]:
    """The JSON-Schema type of a param that has a default. Airflow's trigger form marks a field
    required (`*`) unless its type allows null, so a field with a default allows it."""
    return [kind, "null"]


def param_findings(
    spec: Spec, declared: dict[str, dict[str, Any]], scheduled: bool
) -> list[Finding]:
    """Airflow refuses to import a scheduled DAG whose params do not all resolve: a scheduled
    run has no one to fill in the form, so every default must satisfy its own schema."""
    if not scheduled or not declared:
        return []
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import best_match

    findings = []
    for name, options in declared.items():
        schema = {k: v for k, v in options.items() if k not in ("default", "description")}
        problem = best_match(
            Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(
                options.get("default")
            )
        )
        if problem is None:
            continue
        at = ("spec", "params", name) + (("default",) if "default" in options else ())
        findings.append(
            spec.finding(
                at,
                "DS106",
                f"param `{name}` of a scheduled DAG has "
                + (
                    f"a default that its own schema refuses ({problem.message})"
                    if "default" in options
                    else "no default"
                ),
                "give it a default of its type "
                "(Airflow will not import a scheduled DAG otherwise), "
                "or drop the schedule",
            )
        )
    return findings


def trigger_params(builtin: list[Param], declared: dict[str, dict[str, Any]]) -> tuple[Param, ...]:
    """The built-in fields, then those the spec author declared under `params:`; a declared
    field without a `default` stays required."""
    return (
        *builtin,
        *(
            Param(
                name,
                spec.get("default"),
                tuple(
                    (k, optional(v) if k == "type" and "default" in spec else v)
                    for k, v in spec.items()
                    if k != "default"
                ),
            )
            for name, spec in declared.items()
        ),
    )


def project_settings(analysis: Analysis) -> dict[str, Any]:
    """The project level of the task settings (`defaults:` in dagspec.yaml)."""
    from compiler.settings import stated

    return stated(analysis.project.config["defaults"])


def spec_settings(
    spec: Spec, body: dict[str, Any] | None = None, aliases: dict[str, str] | None = None
) -> dict[str, Any]:
    """The spec level: `spec:` keys, with `metadata.owner` as the spec's owner."""
    from compiler.settings import stated

    owner = spec.doc.data["metadata"].get("owner")
    level = stated(spec.body if body is None else body, aliases)
    return {**({"owner": owner} if owner else {}), **level}


def undeclared_pools(
    spec: Spec,
    analysis: Analysis,
    levels: list[tuple[SpecPath, dict[str, Any]]],
    *,
    check_default: bool = True,
) -> list[Finding]:
    """A DS202 finding for each level that names a pool the project does not declare, and one
    when some task falls back to an undeclared project default (`levels[0]` is the spec)."""
    pools = analysis.project.config["pools"]
    findings = []
    default = analysis.project.config["defaults"].get("pool")
    subs = [level for _, level in levels[1:]]
    uses_default = (
        check_default
        and "pool" not in levels[0][1]
        and not (subs and all("pool" in level for level in subs))
    )
    if uses_default and default not in pools:
        findings.append(
            spec.finding(
                ("spec",),
                "DS202",
                f"the project's default pool `{default}` is not declared in its `pools`",
                f"add `{default}` under `spec.pools` in dagspec.yaml, or name a pool here",
            )
        )
    for at, level in levels:
        pool = level.get("pool")
        if pool is not None and pool not in pools:
            findings.append(
                spec.finding(
                    (*at, "pool"),
                    "DS202",
                    f"pool `{pool}` is not declared in the project's `pools`",
                    did_you_mean(pool, list(pools))
                    or f"add `{pool}` under `spec.pools` in dagspec.yaml",
                )
            )
    return findings


def default_args(
    dag_level: dict[str, Any], *, with_pool: bool, notify: NotifyCode | None = None
) -> Code:
    """The DAG's `default_args` literal: every setting of the project and spec levels.

    The pool is left out where it should reach only the work tasks (modules, steps): the
    bookkeeping tasks then never wait behind a full pool.
    """
    from compiler.settings import task_kwargs

    skip = () if with_pool else ("pool",)
    pairs = task_kwargs(dag_level, skip=skip)
    if notify is not None and notify.retry is not None:
        pairs.append(("on_retry_callback", notify.retry))
    return Code("{" + ", ".join(f"{literal(name)}: {code}" for name, code in pairs) + "}")


NOTIFY_EVENTS = ("failure", "success", "retry", "deadline")


def notify_model(
    spec: Spec, analysis: Analysis, stated: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The DAG's notifications: the spec's `notify` keys over the project's `defaults.notify`.

    Returns what the templates emit (None when no event sends anything) and findings for names
    that are not channels and for a deadline without its minutes.
    """
    project = analysis.project.config["defaults"].get("notify") or {}
    own = stated or {}
    channels = {**project.get("channels", {}), **own.get("channels", {})}
    events: dict[str, list[str]] = {}
    findings = []
    for event in NOTIFY_EVENTS:
        key = f"on_{event}"
        names = own.get(key, project.get(key, []))
        for i, name in enumerate(names):
            if name not in channels:
                message = f"notify channel `{name}` is not defined"
                hint = did_you_mean(name, list(channels))
                if key in own:
                    findings.append(
                        spec.finding(
                            ("spec", "notify", key, i),
                            "DS202",
                            message,
                            hint or "define it under `notify.channels` here or in dagspec.yaml",
                        )
                    )
                else:  # the project's default: reported in dagspec.yaml, for every spec it breaks
                    findings.append(
                        _in_config(
                            analysis,
                            ("spec", "defaults", "notify", key, i),
                            f"{message} (every spec without its own `notify.{key}` uses it)",
                            hint or "define it under `defaults.notify.channels` in dagspec.yaml",
                        ).with_related(spec.place(("spec",)))
                    )
        if names:
            events[event] = list(names)
    minutes = own.get("deadline_minutes", project.get("deadline_minutes"))
    if "deadline" in events and minutes is None:
        findings.append(
            spec.finding(
                ("spec", "notify") if "notify" in spec.body else ("spec",),
                "DS102",
                "`on_deadline` lists channels but no `deadline_minutes` says when a run is late",
                "add `deadline_minutes: 60` (how long a run may take once queued)",
            )
        )
    if "deadline" in events:
        findings += _target_findings(spec, analysis, "deadline", own)
    if not events or findings:
        return None, findings
    used = sorted({n for names in events.values() for n in names})
    return {
        "channels": {n: channels[n] for n in used},
        "events": events,
        "deadline_minutes": minutes,
    }, []


def _target_findings(
    spec: Spec, analysis: Analysis, feature: str, own: dict[str, Any]
) -> list[Finding]:
    """An error when the project's target Airflow lacks `feature` (compiler.airflow_target)."""
    from compiler import airflow_target

    minor = airflow_target.target(analysis.project.config)
    first = airflow_target.lacks(feature, minor)
    if first is None:
        return []
    what = airflow_target.FEATURES[feature][1]
    stated = "on_deadline" in own
    return [
        spec.finding(
            ("spec", "notify", "on_deadline") if stated else ("spec",),
            "DS104",
            f"{what} needs Airflow {first} or newer; this project targets Airflow {minor}"
            + ("" if stated else " (from `defaults.notify.on_deadline` in dagspec.yaml)"),
            f'remove `on_deadline`, or set `airflow_version: "{first}"` (or newer) in '
            "dagspec.yaml once your Airflow is upgraded",
        )
    ]


def _in_config(analysis: Analysis, path: SpecPath, message: str, hint: str) -> Finding:
    """A DS202 at a value of dagspec.yaml (the project config)."""
    from compiler.project import CONFIG_NAME

    doc = analysis.project.doc
    line, col = doc.marks.locate(path) if doc is not None else (1, 1)
    return Finding(CONFIG_NAME, line, col, "DS202", message, format_path(path), hint)


def notify_code(model: dict[str, Any] | None) -> NotifyCode | None:
    """Template pieces for notifications: the NOTIFY constant, DAG arguments, the retry hook."""
    if model is None:
        return None
    events = model["events"]
    dag_args = [
        (f"on_{e}_callback", Code(f"NOTIFY.on({literal(e)}, {literal(events[e])})"))
        for e in ("failure", "success")
        if e in events
    ]
    if "deadline" in events:
        dag_args.append(
            (
                "deadline",
                Code(
                    f"NOTIFY.deadline({literal(model['deadline_minutes'])}, "
                    f"{literal(events['deadline'])})"
                ),
            )
        )
    retry = Code(f'NOTIFY.on("retry", {literal(events["retry"])})') if "retry" in events else None
    return NotifyCode(Code(f"Notify({literal(model['channels'])})"), tuple(dag_args), retry)
