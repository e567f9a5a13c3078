"""ManifestGateOperator: one gate of one manifest process as an Airflow task.

Everything it takes is a literal (str, int, float, bool, dict, list), so the compiler's template
can emit it through its escaping filter. Data between gates travels through the run folder; only
a small summary goes to XCom.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator

from dagspec_runtime.airflow_compat import AirflowFailException
from dagspec_runtime.errors import StepFailed
from dagspec_runtime.etl.claims import release_quietly
from dagspec_runtime.etl.config import ProcessConfig
from dagspec_runtime.etl.context import GateContext
from dagspec_runtime.etl.gate_task import default_sqlite_path, run_gate_task
from dagspec_runtime.etl.gates import GATES
from dagspec_runtime.metalog.engine import DEFAULT_CONN_ID

__all__ = ["ManifestGateOperator", "default_sqlite_path"]


class ManifestGateOperator(BaseOperator):
    """Run gate `gate` of `process`; refusals fail the task without retries.

    ``storage`` is the declared run storage (``dagspec.yaml`` ``spec.storage.url``): run
    folders then live in ``<storage>/runs``, so the next gate finds them on any worker.
    """

    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        gate: str,
        process: dict[str, Any],
        meta_conn_id: str = DEFAULT_CONN_ID,
        meta_sqlite_path: str | None = None,
        run_root: str | None = None,
        project_root: str | None = None,
        storage: str | None = None,
        **kwargs: Any,
    ) -> None:
        if gate not in GATES:
            raise ValueError(f"gate must be one of {list(GATES)}, got {gate!r}")
        cfg = ProcessConfig.parse(process)  # a bad literal fails at parse time
        kwargs.setdefault("task_id", gate)
        kwargs.setdefault("retries", cfg.retries)
        kwargs.setdefault("retry_delay", timedelta(seconds=cfg.retry_backoff_seconds))
        super().__init__(**kwargs)
        self.gate = gate
        self.process = process
        self.meta_conn_id = meta_conn_id
        self.meta_sqlite_path = meta_sqlite_path
        self.run_root = run_root
        self.project_root = project_root
        self.storage = storage

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            return run_gate_task(
                gate=self.gate,
                process=self.process,
                run_id=str(context["run_id"]),
                meta_conn_id=self.meta_conn_id,
                meta_sqlite_path=self.meta_sqlite_path,
                run_root=self.run_root,
                project_root=self.project_root,
                storage=self.storage,
                log=self.log,
                on_start=self._remember,
            )
        except StepFailed as exc:
            raise AirflowFailException(str(exc)) from exc

    def _remember(self, ctx: GateContext) -> None:
        self._ledger, self._run_id = ctx.ledger, ctx.run_id

    def on_kill(self) -> None:
        """Airflow marks the task failed or stops it (SIGTERM): give the files back now."""
        ledger = getattr(self, "_ledger", None)
        if ledger is not None:
            release_quietly(ledger, self._run_id)
