"""Entity runtime: run an entity pipeline (phases of modules), inside Airflow or without it.

One DAG per entity: ``prepare_workspace`` >> one TaskGroup per phase (modules + gate) >>
``promote`` >> ``pipeline_result``. The rules live in pure step functions (workspace, module,
gate, promote, result); the operators (entity.operators) are imported lazily, so the fast local
runner uses the steps without paying for an Airflow import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagspec_runtime.entity.operators import (
        ModuleOperator,
        PhaseGateOperator,
        PipelineResultOperator,
        PrepareWorkspaceOperator,
        PromoteOperator,
    )

__all__ = [
    "ModuleOperator",
    "PhaseGateOperator",
    "PipelineResultOperator",
    "PrepareWorkspaceOperator",
    "PromoteOperator",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dagspec_runtime.entity import operators

        return getattr(operators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
