"""profile (optional): per-field statistics of the pulled records (govern/profile.json).

Nice to have, not needed by anything downstream: the entity spec marks it optional, so its
failure makes the run a warning, not a failure.
"""

from __future__ import annotations

import sys
from typing import Any

from _common import ModuleError, Run, log, main

NAME = "profile"


def profile(run: Run) -> None:
    model = run.read_json_input("model")
    records: list[dict[str, Any]] = run.read_json_input("records")
    if not records:
        raise ModuleError("no records to profile")
    stats = {}
    for spec in model["fields"]:
        values = [record.get(spec["name"]) for record in records]
        present = [v for v in values if v is not None]
        comparable = sorted(present, key=str) if spec["type"] in ("string", "date") else present
        stats[spec["name"]] = {
            "type": spec["type"],
            "nulls": len(values) - len(present),
            "distinct": len({repr(v) for v in present}),
            "min": min(comparable) if comparable and spec["type"] != "boolean" else None,
            "max": max(comparable) if comparable and spec["type"] != "boolean" else None,
        }
    run.write_json("profile.json", {"entity": run.entity, "rows": len(records), "fields": stats})
    log(f"{NAME}: profiled {len(stats)} fields over {len(records)} rows")


if __name__ == "__main__":
    sys.exit(main(NAME, profile))
