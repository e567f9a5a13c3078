"""The Airflow side of "no stranded work": when Airflow marks a gate task failed or stops it,
its task runner calls the operator's on_kill, which gives the run's files back at once; a gate
that fails inside the operator releases them too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dagspec_runtime.etl.gate_operator import ManifestGateOperator
from dagspec_runtime.metalog import Ledger, engine_for

pytestmark = pytest.mark.airflow


def operator(gate: str, process: dict[str, Any], sqlite: Path) -> ManifestGateOperator:
    return ManifestGateOperator(
        gate=gate,
        process=process,
        meta_conn_id="dagspec_meta_undefined",
        meta_sqlite_path=str(sqlite),
        run_root=str(sqlite.parent / "runs"),
    )


def test_on_kill_and_failed_gate_release_claims(
    airflow_db: Path, make_process: Any, tmp_path: Path
) -> None:
    sqlite = tmp_path / "meta.sqlite"
    process = make_process(enforcement="quarantine")
    ledger = Ledger(engine_for(f"sqlite:///{sqlite}"), "orders")
    extract = operator("extract", process, sqlite)
    assert extract.execute({"run_id": "manual__1"})["units"] == 2
    assert {u.claimed_by for u in ledger.open_units()} == {"manual__1"}
    extract.on_kill()  # what Airflow's SIGTERM handler calls
    assert {u.claimed_by for u in ledger.open_units()} == {None}

    operator("extract", process, sqlite).execute({"run_id": "manual__2"})
    assert {u.claimed_by for u in ledger.open_units()} == {"manual__2"}
    with pytest.raises(FileNotFoundError):  # audit before evidence: the gate fails
        operator("audit", process, sqlite).execute({"run_id": "manual__2"})
    assert {u.claimed_by for u in ledger.open_units()} == {None}
