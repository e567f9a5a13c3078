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
from collections.abc import Mapping
from typing import Any

from compiler.dag import EntityDag, ManifestDag, ReductionDag
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


def _settings(settings: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> str:
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
    cron = target.dag.arguments.schedule
    inputs = ", ".join(f"`{path}`" for path in sorted(target.assets_in))
    if inputs and cron is not None:
        return f"`{cron}` or when all of its inputs are updated: {inputs}"
    if inputs:
        return f"when all of its inputs are updated (Assets): {inputs}"
    return f"`{cron}`" if cron is not None else "triggered by hand"


def dag_doc(target: Target) -> str:
    """The DAG's `doc_md`."""
    dag = target.dag
    spec, *parents = target.sources
    source = f"`{spec.doc.file}`" + "".join(f", extends `{p.doc.file}`" for p in parents)
    facts: list[list[Any]] = [
        ["kind", dag.kind],
        ["owner", dag.owner],
        ["schedule", _schedule(target)],
        ["spec", source],
        ["task settings", _settings(dag.settings) or "Airflow defaults"],
    ]
    lines = [f"# {dag.dag_id}", "", dag.arguments.description, "", *_table(facts), ""]
    if isinstance(dag, EntityDag):
        lines += _entity(dag)
    elif isinstance(dag, ManifestDag):
        lines += _manifest(dag)
    elif isinstance(dag, ReductionDag):
        lines += _reduction(dag)
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


def _entity(dag: EntityDag) -> list[str]:
    lines = ["## Phases", "", "Phases run in order; the modules of a phase run in parallel.", ""]
    for number, phase in enumerate(dag.phases, start=1):
        about = f": {phase.description}" if phase.description else ""
        lines.append(f"{number}. **{phase.name}**{about}")
        for module in phase.modules:
            optional = "" if module.required else " (optional)"
            note = _note(_settings(module.task.settings, dag.settings), module.task.description)
            lines.append(f"    - `{module.task.arguments['module']}`{optional}{note}")
    return lines


def _manifest(dag: ManifestDag) -> list[str]:
    process = dag.process
    source = process["source"]
    where = source.get("table") or f"{source.get('landing_dir', '')}/{source.get('glob', '')}"
    return [
        "## Process",
        "",
        f"- **{process['name']}**: {source['kind']} `{where}` → table "
        f"`{process['sink']['table']}`, contract "
        f"{process['contract'].get('enforcement', 'strict')}",
        f"- gates: {' → '.join(dag.gates)}",
    ]


def _reduction(dag: ReductionDag) -> list[str]:
    lines = ["## Steps", "", "Each task group runs once per sub-group of the data.", ""]
    for group in dag.groups:
        lines.append(f"- **{group.group_id}**")
        for step in group.steps:
            config = step.config
            facts = [config["software"], "by " + (", ".join(config["group_by"]) or "all data")]
            if config["depends_on"]:
                facts.append("after " + ", ".join(config["depends_on"]))
            if settings := _settings(step.task.settings, dag.settings):
                facts.append(settings)
            about = f" — {step.task.description}" if step.task.description else ""
            lines.append(f"    - `{step.task.name}` ({'; '.join(facts)}){about}")
    return lines


def module_doc(
    task_id: str,
    description: str | None,
    command: list[str],
    inputs: dict[str, str],
    outputs: list[str],
) -> str:
    """A module task's `doc_md`: what it is, what it runs, what it reads and writes."""
    lines = [f"**{task_id}**" + (f": {description}" if description else ""), ""]
    lines.append(
        "Command: `" + " ".join(shlex.quote(p) for p in command) + " --manifest FILE --json`"
    )
    if inputs:
        lines.append("Inputs: " + ", ".join(f"{k}=`{v}`" for k, v in inputs.items()))
    if outputs:
        lines.append("Outputs: " + ", ".join(f"`{o}`" for o in outputs))
    return "\n\n".join(line for line in lines if line) + "\n"
