"""datacontract: render compile/artifacts/datacontract.yaml (Data Contract Specification).

YAML is written by hand with JSON-quoted strings (valid YAML) so the module needs only the
standard library.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from _common import Run, log, main, table_name

NAME = "datacontract"
CONTRACT_TYPES = {
    "string": "string",
    "integer": "long",
    "number": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp_ntz",
}


def q(text: str) -> str:
    return json.dumps(text)


def contract(model: dict[str, Any], governance: dict[str, Any]) -> str:
    keys = set(model.get("primary_key", []))
    lines = [
        "dataContractSpecification: 1.1.0",
        f"id: {q(model['entity'])}",
        "info:",
        f"  title: {q(model['entity'])}",
        "  version: 1.0.0",
        f"  owner: {q(governance.get('owner', 'unassigned'))}",
        f"  description: {q(model.get('description', ''))}",
        "models:",
        f"  {table_name(model['entity'])}:",
        "    type: table",
        f"    description: {q(model.get('description', ''))}",
        "    fields:",
    ]
    for spec in model["fields"]:
        required = not spec["nullable"] or spec["name"] in keys
        lines += [
            f"      {spec['name']}:",
            f"        type: {CONTRACT_TYPES[spec['type']]}",
            f"        required: {'true' if required else 'false'}",
        ]
        if spec["name"] in keys:
            lines.append("        primaryKey: true")
        if spec.get("pii"):
            lines.append("        pii: true")
            lines.append(f"        classification: {q(governance.get('classification', ''))}")
        if spec.get("description"):
            lines.append(f"        description: {q(spec['description'])}")
    return "\n".join(lines) + "\n"


def render(run: Run) -> None:
    model = run.read_json_input("model")
    governance = run.read_json_input("governance")
    run.write("artifacts/datacontract.yaml", contract(model, governance))
    log(f"{NAME}: contract with {len(model['fields'])} fields")


if __name__ == "__main__":
    sys.exit(main(NAME, render))
