"""Run reduction steps as real Slurm batch jobs from Airflow.

The operator and trigger are imported lazily so the pure helpers (script rendering, flag mapping,
state parsing) stay importable, and testable, without paying for an Airflow import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagspec_runtime.slurm.job_trigger import SlurmJobTrigger
    from dagspec_runtime.slurm.submit_operator import SlurmSubmitOperator

__all__ = ["SlurmJobTrigger", "SlurmSubmitOperator"]


def __getattr__(name: str) -> Any:
    if name == "SlurmSubmitOperator":
        from dagspec_runtime.slurm.submit_operator import SlurmSubmitOperator

        return SlurmSubmitOperator
    if name == "SlurmJobTrigger":
        from dagspec_runtime.slurm.job_trigger import SlurmJobTrigger

        return SlurmJobTrigger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
