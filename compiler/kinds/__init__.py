"""Spec kinds: each module checks its kind's meaning and plans its DAG files."""

from __future__ import annotations

from types import ModuleType

from compiler.kinds import entity, manifest, reduction

#: kind name → module with `check_project(analysis)` and `plan(spec, analysis)`, which returns
#: a list of (DAG target or None, findings).
KINDS: dict[str, ModuleType] = {
    "Entity": entity,
    "Manifest": manifest,
    "ReductionPipeline": reduction,
}
