"""Values as a plan compares and shows them: nested data flattened to one path per leaf."""

from __future__ import annotations

import json
from typing import Any


class _Unset:
    """A key one side does not have (unlike a stated `null`)."""

    def __repr__(self) -> str:
        return "unset"


UNSET: Any = _Unset()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """One path per leaf: `process.contract.columns[amount].precision`. Dicts open by key (an
    empty one has no leaves); a list of dicts that each have a distinct `name` opens by name;
    other values are leaves."""
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, item in value.items():
            found.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return found
    if _named(value):
        found = {}
        for item in value:
            rest = {k: v for k, v in item.items() if k != "name"}
            path = f"{prefix}[{item['name']}]"
            found.update(flatten(rest, path) or {path: {}})  # a bare name is still there
        return found
    return {prefix: value}


def _named(value: Any) -> bool:
    if not isinstance(value, list) or not value:
        return False
    if not all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in value):
        return False
    return len({item["name"] for item in value}) == len(value)


def show(value: Any) -> str:
    """A value as JSON on one line (`"@daily"`, `null`, `[1, 2]`), or `unset`."""
    if value is UNSET:
        return "unset"
    return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)
