"""The report of one process run (seed 001's fields), built from what the gates left in the run
folder, so the fast local path and the Airflow path report the same thing.

Pure runtime: no Airflow import. `run_with_report` runs a process with retries and returns the
report; `from_run_folder` builds it for a run that already happened (the Airflow path).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagspec_runtime.etl.claims import RunInterrupted

SUCCESS, FAILED, INTERRUPTED = "success", "failed", "interrupted"


@dataclass
class ProcessReport:
    """What one process run did.

    status: ``success`` (no errors), ``failed`` (a refusal, an error, or a failed unit) or
        ``interrupted`` (SIGINT/SIGTERM/SIGHUP; claims were released).
    attempts / max_attempts: attempts made / allowed (``retry_attempts + 1``).
    inserted_rows: rows finalized into the sink table by this run.
    quarantined_rows: rows the contract rejected (quarantine enforcement) in this run.
    errors: one message per failure (gate refusals and errors, failed units); never tracebacks.
    duration_s: wall time of all attempts, backoff included.
    data_contract_evidence: path of the evidence file (``None`` when the run wrote none); also
        under ``reconciliation_metrics.data_contract_evidence`` in ``to_dict()``.
    skipped_claimed: units left alone because another live run holds them:
        ``{"unit_id", "path", "holder_run_id", "claimed_until"}``.
    failed_units: units whose transform failed its retries (``dagspec meta`` re-queues or skips
        them): ``{"unit_id", "path", "message"}``; they do not stop other units from loading.
    gates: each gate's summary, in run order.
    """

    process: str
    run_id: str
    status: str = SUCCESS
    attempts: int = 1
    max_attempts: int = 1
    inserted_rows: int = 0
    quarantined_rows: int = 0
    errors: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    data_contract_evidence: str | None = None
    units_loaded: int = 0
    skipped_claimed: list[dict[str, Any]] = field(default_factory=list)
    failed_units: list[dict[str, Any]] = field(default_factory=list)
    gates: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == SUCCESS and not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "process": self.process,
            "run_id": self.run_id,
            "status": self.status,
            "passed": self.passed,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "inserted_rows": self.inserted_rows,
            "quarantined_rows": self.quarantined_rows,
            "errors": list(self.errors),
            "duration_s": round(self.duration_s, 3),
            "reconciliation_metrics": {
                "data_contract_evidence": self.data_contract_evidence,
                "units_loaded": self.units_loaded,
            },
            "skipped_claimed": list(self.skipped_claimed),
            "failed_units": list(self.failed_units),
            "gates": dict(self.gates),
        }


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def fill_from_run_folder(report: ProcessReport, folder: Path) -> ProcessReport:
    """Counts, evidence, skipped and failed units, gate errors, from the gates' artifacts."""
    units = _read(folder / "extract" / "units.json") or {}
    report.skipped_claimed = list(units.get("skipped_claimed", []))
    contract = _read(folder / "contract" / "report.json") or {}
    report.quarantined_rows = sum(u.get("rejected", 0) for u in contract.get("units", {}).values())
    fin = _read(folder / "finalize" / "report.json") or {}
    report.inserted_rows = int(fin.get("rows_loaded", 0))
    report.units_loaded = len(fin.get("won", []))
    report.failed_units = list(units.get("failed_files", [])) + list(fin.get("failed_units", []))
    evidence = _read(folder / "evidence" / "report.json") or {}
    report.data_contract_evidence = evidence.get("path")
    for err in sorted(folder.glob("*/error.json")):
        doc = _read(err) or {}
        message = doc.get("message")
        if message and message not in report.errors:
            report.errors.append(message)
    if report.errors and report.status == SUCCESS:
        report.status = FAILED
    return report


def from_run_folder(
    folder: Path,
    process: str,
    run_id: str,
    *,
    attempts: int = 1,
    max_attempts: int = 1,
    status: str | None = None,
    duration_s: float = 0.0,
) -> ProcessReport:
    """The report of a run whose gates ran elsewhere (e.g. as Airflow tasks)."""
    report = ProcessReport(
        process,
        run_id,
        status=status or SUCCESS,
        attempts=attempts,
        max_attempts=max_attempts,
        duration_s=duration_s,
    )
    return fill_from_run_folder(report, folder)


def run_with_report(
    process: dict[str, Any],
    run_id: str,
    *,
    meta_url: str,
    run_root: str | Path | None = None,
    retry_attempts: int = 0,
    retry_backoff_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ProcessReport:
    """Run the process (all gates, in this process) and report; never raises for a failed run.

    A refusal (bad data, unsafe schema change, failed unit) is final; another error is retried
    up to ``retry_attempts`` times after ``retry_backoff_seconds``. SIGINT (KeyboardInterrupt),
    SIGTERM and SIGHUP end the run with status ``interrupted``; claims are released either way.
    """
    from dagspec_runtime.etl.config import ProcessConfig
    from dagspec_runtime.etl.errors import GateRefused
    from dagspec_runtime.etl.pipeline import run_process

    cfg = ProcessConfig.parse(process)
    report = ProcessReport(cfg.name, run_id, max_attempts=retry_attempts + 1, attempts=0)
    from dagspec_runtime.etl.runfolder import run_dir

    started = time.monotonic()
    folder = run_dir(run_root, cfg.name, run_id)
    # Gates resume from the meta-log, not from this folder: a fresh folder keeps the report to
    # this run (a reused run id would otherwise show the last run's counts).
    # Evidence and quarantine files (kept there when no folder is configured) are never removed.
    for item in folder.iterdir() if folder.exists() else ():
        if item.name not in ("evidence", "quarantine"):
            shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    while report.attempts < report.max_attempts:
        report.attempts += 1
        errors = []
        try:
            report.gates = run_process(process, run_id, meta_url=meta_url, run_root=run_root)
            report.status = SUCCESS
            break
        except GateRefused as exc:
            report.status, errors = FAILED, [str(exc)]
            break
        except (KeyboardInterrupt, RunInterrupted) as exc:
            report.status = INTERRUPTED
            errors = [str(exc) or "interrupted by SIGINT"]
            break
        except Exception as exc:  # reported, and retried if allowed
            report.status, errors = FAILED, [f"{type(exc).__name__}: {exc}"]
            if report.attempts < report.max_attempts and retry_backoff_seconds > 0:
                sleep(retry_backoff_seconds)
    report.duration_s = time.monotonic() - started
    fill_from_run_folder(report, folder)  # the failing gate's own message, when it left one
    if report.status != SUCCESS and not report.errors:
        report.errors = errors
    if report.errors and report.status == SUCCESS:
        report.status = FAILED
    return report
