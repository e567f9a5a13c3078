"""Quarantine files: rejected rows kept next to the reason they were rejected, so someone can
fix and re-land them."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from dagspec_runtime.etl.runfolder import _atomic_write


def write_rejects(path: Path, fmt: str, source: str, bad: list[dict[str, Any]]) -> Path:
    """CSV (original columns + _reason, _source, _line) or JSON lines."""
    if fmt == "jsonl":
        path = path.with_suffix(".jsonl")

        def write_jsonl(fh: Any) -> None:
            for item in bad:
                rec = {
                    "row": item["row"],
                    "reason": item["reason"],
                    "source": source,
                    "line": item["line"],
                }
                fh.write(json.dumps(rec, default=str) + "\n")

        _atomic_write(path, write_jsonl)
        return path
    path = path.with_suffix(".csv")
    fields: list[str] = []
    for item in bad:
        for k in item["row"]:
            if k not in fields:
                fields.append(k)
    fields += ["_reason", "_source", "_line"]

    def write_csv(fh: Any) -> None:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for item in bad:
            w.writerow(
                {**item["row"], "_reason": item["reason"], "_source": source, "_line": item["line"]}
            )

    _atomic_write(path, write_csv)
    return path
