"""governance: check the model against house rules and classify it (govern/governance.json).

Hard rules fail the module (no primary key, bad names, nullable key); soft findings (missing
descriptions, personal data) are recorded and logged but do not fail it.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from _common import FIELD_TYPES, ModuleError, Run, log, main

NAME = "governance"
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def check(model: dict[str, Any], entity: str) -> tuple[list[dict[str, str]], list[str]]:
    """(checks with status pass/fail/warn, hard failures)."""
    fields = {f["name"]: f for f in model.get("fields", [])}
    checks: list[dict[str, str]] = []

    def record(name: str, ok: bool, detail: str, hard: bool = True) -> None:
        checks.append(
            {
                "check": name,
                "status": "pass" if ok else ("fail" if hard else "warn"),
                "detail": detail,
            }
        )

    record("entity matches", model.get("entity") == entity, f"model entity {model.get('entity')}")
    record("has fields", bool(fields), f"{len(fields)} fields")
    bad_names = [n for n in fields if not SNAKE.match(n)]
    record("snake_case names", not bad_names, ", ".join(bad_names) or "all snake_case")
    bad_types = [n for n, f in fields.items() if f.get("type") not in FIELD_TYPES]
    record("known types", not bad_types, ", ".join(bad_types) or "all known")
    keys = model.get("primary_key", [])
    missing = [k for k in keys if k not in fields]
    record(
        "primary key declared",
        bool(keys) and not missing,
        f"key {keys}" + (f", missing {missing}" if missing else ""),
    )
    nullable = [k for k in keys if fields.get(k, {}).get("nullable")]
    record("primary key not null", not nullable, ", ".join(nullable) or "no nulls in key")
    undocumented = [n for n, f in fields.items() if not f.get("description")]
    record(
        "fields documented",
        not undocumented,
        f"{len(undocumented)} without description",
        hard=False,
    )
    pii = [n for n, f in fields.items() if f.get("pii")]
    record("personal data", not pii, ", ".join(pii) or "none", hard=False)
    failures = [f"{c['check']}: {c['detail']}" for c in checks if c["status"] == "fail"]
    return checks, failures


def govern(run: Run) -> None:
    model = run.read_json_input("model")
    checks, failures = check(model, run.entity)
    pii = [f["name"] for f in model["fields"] if f.get("pii")]
    document = {
        "entity": run.entity,
        "owner": model.get("owner") or "unassigned",
        "classification": "confidential" if pii else "internal",
        "personal_data": pii,
        "checks": checks,
        "passed": not failures,
    }
    run.write_json("governance.json", document)
    for item in checks:
        if item["status"] != "pass":
            log(f"{NAME}: {item['status']}: {item['check']}: {item['detail']}")
    if failures:
        raise ModuleError("governance failed: " + "; ".join(failures))


if __name__ == "__main__":
    sys.exit(main(NAME, govern))
