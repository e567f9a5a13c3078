"""The process report (seed 001's fields) from the pure runtime: retries, refusals, counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dagspec_runtime.etl import gates, run_with_report

pytestmark = pytest.mark.postgres

FIELDS = {
    "status",
    "attempts",
    "max_attempts",
    "inserted_rows",
    "quarantined_rows",
    "errors",
    "duration_s",
    "reconciliation_metrics",
    "skipped_claimed",
    "failed_units",
}


def test_transient_error_is_retried_and_reported(
    db_url: str, make_process: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = gates.GATES["evidence"]
    calls: list[int] = []

    def flaky(ctx: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("evidence volume not mounted yet")
        return real(ctx)

    monkeypatch.setitem(gates.GATES, "evidence", flaky)
    waits: list[float] = []
    report = run_with_report(
        make_process(enforcement="quarantine"),
        "rep-1",
        meta_url=db_url,
        run_root=tmp_path / "runs",
        retry_attempts=2,
        retry_backoff_seconds=5,
        sleep=waits.append,
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) >= FIELDS
    assert (data["status"], data["attempts"], data["max_attempts"]) == ("success", 2, 3)
    assert waits == [5]
    assert data["errors"] == [] and report.passed
    assert (data["inserted_rows"], data["quarantined_rows"]) == (7, 3)
    evidence = Path(data["reconciliation_metrics"]["data_contract_evidence"])
    assert evidence.name == "data_contract_evidence.json" and evidence.exists()


def test_refusal_is_not_retried_and_has_no_traceback(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    report = run_with_report(
        make_process(), "rep-strict", meta_url=db_url, run_root=tmp_path / "runs", retry_attempts=3
    )
    assert (report.status, report.attempts, report.max_attempts) == ("failed", 1, 4)
    (message,) = report.errors
    assert message.startswith("contract: 3 row(s) break the strict contract")
    assert "Traceback" not in message
    assert report.inserted_rows == 0
    assert report.to_dict()["reconciliation_metrics"]["data_contract_evidence"] is None
