"""How a runtime step says "this task failed" or "skip this task" without naming Airflow.

The pure step functions (entity, ETL, reduction) raise these; the Airflow operators turn them
into Airflow's exceptions and the fast path's scheduler (dagspec_runtime.local_scheduler) into
task states, so both ways of running a DAG decide the same way.
"""

from __future__ import annotations

from typing import Any


class StepFailed(Exception):
    """The task failed. ``value`` is what it still leaves for others (e.g. a result envelope);
    ``retry`` False means retrying cannot help (a refused gate)."""

    def __init__(self, message: str, value: Any = None, *, retry: bool = True) -> None:
        super().__init__(message)
        self.value = value
        self.retry = retry


class StepSkipped(Exception):
    """The task has nothing to do in this run (an earlier phase stopped it, a dry run ...)."""
