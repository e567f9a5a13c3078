"""ManifestGateOperator: one gate of one manifest process as an Airflow task.

Everything it takes is a literal (str, int, float, bool, dict, list), so the compiler's template
can emit it through its escaping filter. Data between gates travels through the run folder; only
a small summary goes to XCom.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from dagspec_runtime.etl.claims import holding_claims, release_quietly
from dagspec_runtime.etl.config import ProcessConfig
from dagspec_runtime.etl.context import make_context
from dagspec_runtime.etl.errors import GateRefused
from dagspec_runtime.etl.gates import GATES, run_gate
from dagspec_runtime.metalog.engine import DEFAULT_CONN_ID, resolve_meta_url


def default_sqlite_path() -> Path:
    """Embedded meta DB when no connection is defined: $DAGSPEC_META_SQLITE, else under
    $AIRFLOW_HOME (kept across runs, unlike a temp folder)."""
    explicit = os.environ.get("DAGSPEC_META_SQLITE")
    if explicit:
        return Path(explicit)
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / "dagspec" / "meta.sqlite"


class ManifestGateOperator(BaseOperator):
    """Run gate `gate` of `process`; refusals fail the task without retries."""

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

    def execute(self, context: Any) -> dict[str, Any]:
        sqlite_path = Path(self.meta_sqlite_path) if self.meta_sqlite_path else None
        if self.project_root is not None:
            # The process's relative paths (landing, evidence, quarantine) are project paths.
            os.environ["DAGSPEC_PROJECT_DIR"] = self.project_root
            if sqlite_path is not None and not sqlite_path.is_absolute():
                sqlite_path = Path(self.project_root) / sqlite_path
        meta_url = resolve_meta_url(self.meta_conn_id, sqlite_path or default_sqlite_path())
        ctx = make_context(
            self.process, context["run_id"], meta_url=meta_url, run_root=self.run_root
        )
        self.log.info("gate %s of process %s, run folder %s", self.gate, ctx.cfg.name, ctx.dir)
        self._ledger, self._run_id = ctx.ledger, ctx.run_id
        try:
            # Renewed while the gate works, released if it fails (Airflow then retries or not).
            with holding_claims(ctx.ledger, ctx.run_id, ctx.cfg.lease_seconds):
                summary = run_gate(self.gate, ctx)
        except GateRefused as exc:
            raise AirflowFailException(str(exc)) from exc
        self.log.info("gate %s: %s", self.gate, summary)
        return summary

    def on_kill(self) -> None:
        """Airflow marks the task failed or stops it (SIGTERM): give the files back now."""
        ledger = getattr(self, "_ledger", None)
        if ledger is not None:
            release_quietly(ledger, self._run_id)
