"""Runtime of the Manifest kind: one ETL process run as fail-closed gate tasks.

Gate order (each a separate Airflow task): extract → contract → evolution → compatibility →
ddl → stage → finalize → evidence → audit → state (→ publish when configured).
"""

from __future__ import annotations

from dagspec_runtime.etl.config import ProcessConfig
from dagspec_runtime.etl.errors import GateRefused
from dagspec_runtime.etl.gates import GATES, run_gate
from dagspec_runtime.etl.pipeline import run_process
from dagspec_runtime.etl.report import ProcessReport, run_with_report

__all__ = [
    "GATES",
    "GateRefused",
    "ProcessConfig",
    "ProcessReport",
    "run_gate",
    "run_process",
    "run_with_report",
]
