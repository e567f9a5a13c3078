"""The documentation a generated DAG carries into Airflow's UI (`doc_md` of the DAG and tasks).

People debugging a run want to see which spec made the DAG: its description, a short table of
its settings, the phases, processes or steps in order, the one-line flow, and where to see the
picture (`dagspec graph NAME`; the Graph tab draws the same tasks). It fits Airflow 3.3's docs
dialog: tables of two columns, lists instead of wide tables, no diagram source.

The text says what the spec *means*, never its bytes: a comment-only edit of a spec leaves the
documentation, and so the serialized DAG and its Airflow version, as they were.

The text is emitted as one module-level string constant, so parsing the DAG file costs a
constant's load, not any work.
"""

from __future__ import annotations

import shlex
from typing import Any

from compiler.model import Target
from compiler.render import Code, literal
from compiler.settings import KEYS


def constant(text: str) -> Code:
    """A readable Python literal for a long text: one string literal per line, in parentheses."""
    lines = text.splitlines(keepends=True)
    return Code("(\n" + "".join(f"    {literal(line)}\n" for line in lines) + ")")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _settings(settings: dict[str, Any], base: dict[str, Any] | None = None) -> str:
    shown = [
        f"{k}={settings[k]}"
        for k in KEYS
        if k in settings and (base is None or base.get(k) != settings[k])
    ]
    return ", ".join(shown)


def _table(rows: list[list[Any]]) -> list[str]:
    """A two-column table (name, value): it fits the docs dialog whatever the values."""
    lines = ["| setting | value |", "|---|---|"]
    return lines + [f"| {_cell(name)} | {_cell(value)} |" for name, value in rows]


def _schedule(target: Target) -> str:
    """When the DAG runs, in words: its cron, the Assets it waits for, or by hand."""
    cron = target.model["schedule"]
    inputs = ", ".join(f"`{path}`" for path in sorted(target.assets_in))
    if inputs and cron is not None:
        return f"`{cron}` or when all of its inputs are updated: {inputs}"
    if inputs:
        return f"when all of its inputs are updated (Assets): {inputs}"
    return f"`{cron}`" if cron is not None else "triggered by hand"


def dag_doc(target: Target) -> str:
    """The DAG's `doc_md`."""
    model = target.model
    kind = target.sources[0].kind
    spec, *parents = target.sources
    source = f"`{spec.doc.file}`" + "".join(f", extends `{p.doc.file}`" for p in parents)
    facts: list[list[Any]] = [
        ["kind", kind],
        ["owner", model.get("owner")],
        ["schedule", _schedule(target)],
        ["spec", source],
        ["task settings", _settings(model.get("settings") or {}) or "Airflow defaults"],
    ]
    lines = [f"# {model['dag_id']}", "", model["description"], "", *_table(facts), ""]
    lines += {"Entity": _entity, "Manifest": _manifest, "ReductionPipeline": _reduction}[kind](
        model
    )
    lines += [
        "",
        _flow(target),
        "",
        f"See the picture: `dagspec graph {target.name}` (or Airflow's Graph tab).",
        "",
        "Regenerate, don't edit: change the spec and run `make compile-dags`.",
    ]
    return "\n".join(lines) + "\n"


def _flow(target: Target) -> str:
    """Top-level steps in run order, e.g. `prepare_workspace → pull → … → pipeline_result`."""
    seen: list[str] = []
    for task in sorted(target.tasks, key=lambda t: target.order.get(t, 0)):
        node = target.tasks[task] or task
        if node not in seen:
            seen.append(node)
    return "Flow: " + " → ".join(f"`{n}`" for n in seen)


def _note(settings: str, description: str | None) -> str:
    parts = [f"({settings})" if settings else "", f"— {description}" if description else ""]
    return "".join(f" {p}" for p in parts if p)


def _entity(model: dict[str, Any]) -> list[str]:
    lines = ["## Phases", "", "Phases run in order; the modules of a phase run in parallel.", ""]
    for number, phase in enumerate(model["phases"], start=1):
        about = f": {phase['spec_description']}" if phase.get("spec_description") else ""
        lines.append(f"{number}. **{phase['name']}**{about}")
        for module in phase["modules"]:
            optional = "" if module["required"] else " (optional)"
            note = _note(_settings(module["settings"], model["settings"]), module["description"])
            lines.append(f"    - `{module['name']}`{optional}{note}")
    return lines


def _manifest(model: dict[str, Any]) -> list[str]:
    process = model["process"]
    source = process["source"]
    where = source.get("table") or f"{source.get('landing_dir', '')}/{source.get('glob', '')}"
    return [
        "## Process",
        "",
        f"- **{process['name']}**: {source['kind']} `{where}` → table "
        f"`{process['sink']['table']}`, contract "
        f"{process['contract'].get('enforcement', 'strict')}",
        f"- gates: {' → '.join(model['gates'])}",
    ]


def _reduction(model: dict[str, Any]) -> list[str]:
    lines = ["## Steps", "", "Each task group runs once per sub-group of the data.", ""]
    for group in model["groups"]:
        lines.append(f"- **{group['group_id']}**")
        for step in group["steps"]:
            spec = model["steps"][step["name"]]
            facts = [spec["software"], "by " + (", ".join(spec["group_by"]) or "all data")]
            if spec["depends_on"]:
                facts.append("after " + ", ".join(spec["depends_on"]))
            if settings := _settings(step["settings"], model["settings"]):
                facts.append(settings)
            about = f" — {step['description']}" if step.get("description") else ""
            lines.append(f"    - `{step['name']}` ({'; '.join(facts)}){about}")
    return lines


def module_doc(module: dict[str, Any], phase: str) -> str:
    """A module task's `doc_md`: what it is, what it runs, what it reads and writes."""
    lines = [
        f"**{phase}.{module['name']}**"
        + (f": {module['description']}" if module.get("description") else ""),
        "",
    ]
    lines.append(
        "Command: `"
        + " ".join(shlex.quote(p) for p in module["command"])
        + " --manifest FILE --json`"
    )
    if module["inputs"]:
        lines.append("Inputs: " + ", ".join(f"{k}=`{v}`" for k, v in module["inputs"].items()))
    if module.get("outputs"):
        lines.append("Outputs: " + ", ".join(f"`{o}`" for o in module["outputs"]))
    return "\n\n".join(line for line in lines if line) + "\n"
