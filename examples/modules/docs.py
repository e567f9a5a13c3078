"""docs: write the entity's reference page (support/README.md) from model and governance."""

from __future__ import annotations

import sys
from typing import Any

from _common import Run, log, main, table_name

NAME = "docs"


def page(model: dict[str, Any], governance: dict[str, Any]) -> str:
    keys = set(model.get("primary_key", []))
    lines = [
        f"# {model['entity']}",
        "",
        model.get("description") or "_No description yet._",
        "",
        f"- Owner: {governance.get('owner', 'unassigned')}",
        f"- Classification: {governance.get('classification', 'unknown')}",
        f"- Bronze table: `bronze.{table_name(model['entity'])}`",
        f"- Source: `{model['source']['path']}` ({model['source']['rows']} rows)",
        "",
        "| Field | Type | Key | Nullable | Description |",
        "|---|---|---|---|---|",
    ]
    for spec in model["fields"]:
        description = (spec.get("description") or "").replace("|", "\\|")
        lines.append(
            f"| {spec['name']} | {spec['type']} | {'yes' if spec['name'] in keys else ''} | "
            f"{'yes' if spec['nullable'] else 'no'} | {description} |"
        )
    return "\n".join(lines) + "\n"


def write_docs(run: Run) -> None:
    model = run.read_json_input("model")
    governance = run.read_json_input("governance")
    run.write("README.md", page(model, governance))
    log(f"{NAME}: wrote reference page for {model['entity']}")


if __name__ == "__main__":
    sys.exit(main(NAME, write_docs))
