"""Spec kinds: each module checks its kind's meaning and plans its DAG files."""

from __future__ import annotations

from types import ModuleType

from compiler.kinds import entity

#: kind name → module with `check_project(analysis)` and `plan(spec, analysis)`.
KINDS: dict[str, ModuleType] = {
    "Entity": entity,
}
