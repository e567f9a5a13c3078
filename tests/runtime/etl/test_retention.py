"""Run folders and run ids: a committed run deletes its row copies (evidence and quarantine
stay; `retention.keep_run_data` keeps them); a failed publish is redone by the next run even
with nothing new (the mart is derived state); a run id that already committed is refused and
its evidence is left as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagspec_runtime.etl import GateRefused, load, run_process
from dagspec_runtime.metalog import engine_for

pytestmark = pytest.mark.postgres

MART = {"table": "orders_by_customer", "group_by": ["customer"], "sum": ["amount"]}


@pytest.mark.parametrize("keep", [False, True])
def test_committed_run_deletes_its_row_copies(
    db_url: str, make_process: Any, tmp_path: Path, keep: bool
) -> None:
    process = make_process(enforcement="quarantine", retention={"keep_run_data": keep})
    run_process(process, "r1", meta_url=db_url, run_root=tmp_path / "runs")
    copies = sorted(p.name for p in (tmp_path / "runs").rglob("*.jsonl"))
    assert copies == (["good.jsonl", "rows.jsonl"] if keep else [])
    assert list((tmp_path / "evidence").rglob("data_contract_evidence.json"))
    assert list((tmp_path / "quarantine").rglob("*.csv"))


def test_failed_publish_is_redone_by_the_next_run(
    db_url: str, make_process: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = make_process(enforcement="quarantine", publish=MART)
    real = load.publish

    def broken(*_a: Any, **_k: Any) -> int:
        raise RuntimeError("mart database full")

    monkeypatch.setattr(load, "publish", broken)
    with pytest.raises(RuntimeError, match="mart database full"):
        run_process(process, "r1", meta_url=db_url, run_root=tmp_path / "runs")
    monkeypatch.setattr(load, "publish", real)
    reports = run_process(process, "r2", meta_url=db_url, run_root=tmp_path / "runs")
    assert reports["extract"]["units"] == 0  # nothing new, yet the mart is rebuilt
    assert reports["publish"]["published"] is True
    with engine_for(db_url).connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM orders_by_customer")) > 0
    again = run_process(process, "r3", meta_url=db_url, run_root=tmp_path / "runs")
    assert again["publish"] == {"published": False}


def test_reused_run_id_is_refused_and_keeps_its_evidence(
    db_url: str, make_process: Any, tmp_path: Path, landing: Path
) -> None:
    process = make_process(enforcement="quarantine")
    run_process(process, "nightly", meta_url=db_url, run_root=tmp_path / "runs")
    (evidence,) = (tmp_path / "evidence").rglob("data_contract_evidence.json")
    before = hashlib.sha256(evidence.read_bytes()).hexdigest()
    (landing / "orders" / "late.csv").write_text(
        "order_id,customer,amount,ordered_at\n900,late,1.00,2026-11-03T09:00:00\n"
    )
    with pytest.raises(GateRefused, match="run id 'nightly' already committed a load"):
        run_process(process, "nightly", meta_url=db_url, run_root=tmp_path / "runs")
    assert hashlib.sha256(evidence.read_bytes()).hexdigest() == before
    reports = run_process(process, "nightly-2", meta_url=db_url, run_root=tmp_path / "runs")
    assert reports["finalize"]["rows_loaded"] == 1
