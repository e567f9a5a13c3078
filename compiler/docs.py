"""The documentation a generated DAG carries into Airflow's UI (`doc_md` of the DAG and tasks).

People debugging a run want to see which spec made the DAG: its description, the phases,
processes or steps with their modules and settings, the spec files and their hashes, and a
picture. Airflow 3.3's docs panel renders Markdown with GFM tables but no Mermaid, so the
picture is the Mermaid source in a code block (GitHub and most Markdown viewers draw it; the
Airflow Graph tab draws the same tasks) under a one-line flow that reads well as plain text.

The text is emitted as one module-level string constant, so parsing the DAG file costs a
constant's load, not any work.
"""

from __future__ import annotations

import hashlib
import shlex
from typing import Any

from compiler.graph import dag_graph, mermaid
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


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def dag_doc(target: Target) -> str:
    """The DAG's `doc_md`."""
    model = target.model
    kind = target.sources[0].kind
    lines = [f"# {model['dag_id']}", "", model["description"], ""]
    schedule = model["schedule"] if model["schedule"] is not None else "none (triggered by hand)"
    facts = [["kind", kind], ["owner", model.get("owner")], ["schedule", schedule]]
    for spec in target.sources:
        digest = hashlib.sha256(spec.doc.raw).hexdigest()
        facts.append(
            [
                "spec" if spec is target.sources[0] else "extends",
                f"`{spec.doc.file}` (sha256 `{digest[:16]}`)",
            ]
        )
    facts.append(["task settings", _settings(model.get("settings") or {}) or "Airflow defaults"])
    lines += _table(["", ""], facts) + [""]
    lines += {"Entity": _entity, "Manifest": _manifest, "ReductionPipeline": _reduction}[kind](
        model
    )
    graph = dag_graph([target])
    flow = _flow(target)
    lines += [
        "",
        "## Picture",
        "",
        flow,
        "",
        "```mermaid",
        *mermaid(graph).splitlines(),
        "```",
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


def _entity(model: dict[str, Any]) -> list[str]:
    rows = []
    for number, phase in enumerate(model["phases"], start=1):
        for module in phase["modules"]:
            rows.append(
                [
                    number,
                    phase["name"],
                    module["name"],
                    "yes" if module["required"] else "no",
                    " ".join(shlex.quote(part) for part in module["command"]),
                    _settings(module["settings"], model["settings"]),
                    module.get("description") or "",
                ]
            )
    lines = ["## Phases", "", "Phases run in order; the modules of a phase run in parallel.", ""]
    lines += _table(
        ["#", "phase", "module", "required", "command", "settings", "description"], rows
    )
    described = [p for p in model["phases"] if p.get("spec_description")]
    if described:
        lines += [""] + [f"- **{p['name']}**: {p['spec_description']}" for p in described]
    return lines


def _manifest(model: dict[str, Any]) -> list[str]:
    process = model["process"]
    source = process["source"]
    where = source.get("table") or f"{source.get('landing_dir', '')}/{source.get('glob', '')}"
    rows = [
        [
            process["name"],
            f"{source['kind']} `{where}`",
            f"`{process['sink']['table']}`",
            process["contract"].get("enforcement", "strict"),
            " → ".join(model["gates"]),
        ]
    ]
    return ["## Process", ""] + _table(["process", "source", "sink", "contract", "gates"], rows)


def _reduction(model: dict[str, Any]) -> list[str]:
    rows = []
    for group in model["groups"]:
        for step in group["steps"]:
            spec = model["steps"][step["name"]]
            rows.append(
                [
                    group["group_id"],
                    step["name"],
                    spec["software"],
                    ", ".join(spec["group_by"]) or "(all data)",
                    ", ".join(spec["depends_on"]),
                    _settings(step["settings"], model["settings"]),
                    step.get("description") or "",
                ]
            )
    return ["## Steps", ""] + _table(
        ["task group", "step", "software", "group_by", "depends on", "settings", "description"],
        rows,
    )


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
