"""Run every gate of a process in order, in one process: what a DAG run does task by task,
for scripts, tests and the resume/kill scenarios."""

from __future__ import annotations

import os
from typing import Any

from dagspec_runtime.etl.claims import holding_claims
from dagspec_runtime.etl.config import ProcessConfig
from dagspec_runtime.etl.context import make_context
from dagspec_runtime.etl.gates import run_gate

ORDER = (
    "extract",
    "contract",
    "evolution",
    "compatibility",
    "ddl",
    "stage",
    "finalize",
    "evidence",
    "audit",
    "state",
)


def gate_order(process: dict[str, Any] | ProcessConfig) -> list[str]:
    """The fail-closed order; publish is appended only when the process has a mart."""
    cfg = process if isinstance(process, ProcessConfig) else ProcessConfig.parse(process)
    return [*ORDER, "publish"] if cfg.publish else list(ORDER)


def run_process(
    process: dict[str, Any],
    run_id: str,
    *,
    meta_url: str,
    run_root: str | os.PathLike[str] | None = None,
    stop_after: str | None = None,
) -> dict[str, Any]:
    """Gates in order; the first failure propagates (fail closed). Returns reports by gate.

    The run's claims are renewed while it works and released as soon as it fails, raises or
    is interrupted (SIGINT, SIGTERM, SIGHUP): see claims.holding_claims.
    """
    ctx = make_context(process, run_id, meta_url=meta_url, run_root=run_root)
    reports: dict[str, Any] = {}
    ctx.ledger.ensure()
    with holding_claims(ctx.ledger, run_id, ctx.cfg.lease_seconds):
        for gate in gate_order(ctx.cfg):
            reports[gate] = run_gate(gate, ctx)
            if gate == stop_after:
                break
    return reports
