"""export-records: the entity's records without PII fields, as JSON lines (<phase>/records.jsonl).

Promoted into a landing folder, the file is what an ETL manifest loads: the example project's
`waste-etl` spec declares it in `deps:`, so its DAG runs whenever an entity run promotes it.
"""

from __future__ import annotations

import json
import sys

from _common import Run, log, main

NAME = "export-records"


def export(run: Run) -> None:
    model = run.read_json_input("model")
    records = run.read_json_input("records")
    private = {field["name"] for field in model["fields"] if field.get("pii")}
    lines = [
        json.dumps({k: v for k, v in r.items() if k not in private}, sort_keys=True)
        for r in records
    ]
    run.write("records.jsonl", "".join(line + "\n" for line in lines))
    log(f"{NAME}: {len(lines)} records, dropped PII fields {sorted(private) or 'none'}")


if __name__ == "__main__":
    sys.exit(main(NAME, export))
