"""model-pull: read the entity's source file and write the canonical model (pull/model.json).

Sources live in ``examples/sources/<entity>.json`` (declared fields + records) or
``<entity>.csv`` (field types inferred from the values). Records go to pull/records.json for
later modules.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from _common import FIELD_TYPES, ModuleError, Run, log, main

NAME = "model-pull"


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sources", default="examples/sources", type=Path)


def infer_type(values: list[str]) -> str:
    """The narrowest field type every non-empty value fits."""
    present = [v for v in values if v != ""]
    if not present:
        return "string"
    checks: list[tuple[str, Any]] = [
        ("boolean", lambda v: v.lower() in ("true", "false")),
        ("integer", lambda v: re.fullmatch(r"-?\d+", v)),
        ("number", lambda v: re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", v)),
        ("date", lambda v: re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) and date.fromisoformat(v)),
        (
            "timestamp",
            lambda v: re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ].+", v) and datetime.fromisoformat(v),
        ),
    ]
    for name, fits in checks:
        try:
            if all(fits(v) for v in present):
                return name
        except ValueError:
            continue
    return "string"


def convert(value: str, kind: str) -> Any:
    if value == "":
        return None
    if kind == "boolean":
        return value.lower() == "true"
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    return value


def from_csv(path: Path) -> dict[str, Any]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ModuleError(f"{path} has no rows")
    names = list(rows[0].keys())
    kinds = {n: infer_type([row[n] for row in rows]) for n in names}
    keys = [n for n in names if n.endswith("_id")][:1] or names[:1]
    return {
        "description": "",
        "owner": "",
        "primary_key": keys,
        "fields": [{"name": n, "type": kinds[n], "description": ""} for n in names],
        "records": [{n: convert(row[n], kinds[n]) for n in names} for row in rows],
    }


def from_json(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    for key in ("fields", "records"):
        if not isinstance(document.get(key), list):
            raise ModuleError(f"{path} needs a list {key!r}")
    return document


def pull(run: Run) -> None:
    sources: Path = run.args.sources
    candidates = [sources / f"{run.entity}.json", sources / f"{run.entity}.csv"]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise ModuleError(
            f"no source for {run.entity}: looked for {', '.join(map(str, candidates))}"
        )
    log(f"{NAME}: reading {found}")
    source = from_json(found) if found.suffix == ".json" else from_csv(found)
    records = source["records"]
    fields = []
    for spec in source["fields"]:
        kind = spec.get("type", "string")
        if kind not in FIELD_TYPES:
            raise ModuleError(f"field {spec.get('name')!r} has unknown type {kind!r}")
        values = [record.get(spec["name"]) for record in records]
        fields.append(
            {
                "name": spec["name"],
                "type": kind,
                "nullable": any(v is None for v in values),
                "description": spec.get("description", ""),
                "pii": bool(spec.get("pii", False)),
            }
        )
    model = {
        "entity": run.entity,
        "description": source.get("description", ""),
        "owner": source.get("owner", ""),
        "primary_key": list(source.get("primary_key", [])),
        "fields": fields,
        "source": {"path": found.as_posix(), "format": found.suffix[1:], "rows": len(records)},
    }
    run.write_json("model.json", model)
    run.write_json("records.json", records)
    log(f"{NAME}: {len(fields)} fields, {len(records)} records")


if __name__ == "__main__":
    sys.exit(main(NAME, pull, _options))
