"""Entity runtime: operators that run an entity pipeline (phases of modules) inside Airflow.

One DAG per entity: ``prepare_workspace`` >> one TaskGroup per phase (modules + gate) >>
``promote`` >> ``pipeline_result``. See each operator's module for the rules it applies.
"""

from __future__ import annotations

from dagspec_runtime.entity.gate import PhaseGateOperator
from dagspec_runtime.entity.module import ModuleOperator
from dagspec_runtime.entity.promote import PromoteOperator
from dagspec_runtime.entity.result import PipelineResultOperator
from dagspec_runtime.entity.workspace import PrepareWorkspaceOperator

__all__ = [
    "ModuleOperator",
    "PhaseGateOperator",
    "PipelineResultOperator",
    "PrepareWorkspaceOperator",
    "PromoteOperator",
]
