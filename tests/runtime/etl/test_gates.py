"""The fail-closed gates on real sample data, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagspec_runtime.etl import GateRefused, run_gate, run_process
from dagspec_runtime.etl.context import make_context
from dagspec_runtime.metalog import Ledger, engine_for

pytestmark = pytest.mark.postgres
OLD = datetime(2026, 1, 1)


def table_rows(url: str, table: str) -> list[dict[str, Any]]:
    engine = engine_for(url)
    if not sa.inspect(engine).has_table(table):
        return []
    t = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(t))]


def test_strict_failure_leaves_target_and_state_untouched(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    process = make_process()
    with pytest.raises(GateRefused, match="strict contract"):
        run_process(process, "run-strict", meta_url=db_url, run_root=tmp_path / "runs")
    ledger = Ledger(engine_for(db_url), "orders")
    assert table_rows(db_url, "orders") == []
    assert ledger.state() is None
    counts = ledger.counts()
    assert counts["stage_load_log"] == counts["transform_log"] == counts["load_audit"] == 0
    assert counts["validation_log"] == 2  # the failure is logged, per file
    assert not (tmp_path / "evidence").exists()
    open_units = ledger.open_units()  # still NEW (open), and the claims were given back
    assert len(open_units) == 2 and all(u.claimed_by is None for u in open_units)


def test_quarantine_loads_good_rows_and_writes_reasons(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    process = make_process(enforcement="quarantine")
    run_process(process, "run-q", meta_url=db_url, run_root=tmp_path / "runs")
    loaded = table_rows(db_url, "orders")
    assert sorted(r["order_id"] for r in loaded) == [1001, 1002, 1004, 1006, 2001, 2003, 2004]
    assert {str(r["amount"]) for r in loaded} >= {"120.50", "7.50"}
    files = sorted((tmp_path / "quarantine").rglob("*.csv"))
    assert len(files) == 2
    rejected: dict[str, str] = {}
    for f in files:
        with f.open(newline="") as fh:
            for row in csv.DictReader(fh):
                rejected[row["order_id"]] = row["_reason"]
    assert set(rejected) == {"1003", "1005", "2002"}
    assert "not a decimal" in rejected["1003"]
    assert "null not allowed" in rejected["1005"]
    assert "not a timestamp" in rejected["2002"]
    ledger = Ledger(engine_for(db_url), "orders")
    assert ledger.state() is not None and ledger.state().units_committed == 2


def test_type_narrowing_refused_before_finalize(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    engine = engine_for(db_url)
    md = sa.MetaData()
    target = sa.Table(
        "orders",
        md,
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.Column("customer", sa.Text),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("ordered_at", sa.DateTime, nullable=False),
    )
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(target),
            [
                {
                    "order_id": 1,
                    "customer": "old",
                    "amount": 1.25,
                    "ordered_at": datetime(2026, 1, 1),
                }
            ],
        )
    process = make_process(enforcement="quarantine")
    for col in process["contract"]["columns"]:
        if col["name"] == "amount":
            col.update(type="integer", precision=None, scale=None)
    ctx = make_context(process, "run-narrow", meta_url=db_url, run_root=tmp_path / "runs")
    for gate in ("extract", "contract", "evolution"):
        run_gate(gate, ctx)
    with pytest.raises(GateRefused, match=r"narrowing refused: amount: decimal\(18,2\) -> integer"):
        run_gate("compatibility", ctx)
    assert [r["order_id"] for r in table_rows(db_url, "orders")] == [1]
    counts = Ledger(engine, "orders").counts()
    assert counts["stage_load_log"] == counts["transform_log"] == counts["load_audit"] == 0
    assert Ledger(engine, "orders").state() is None
    assert not (ctx.dir / "finalize").exists()


def test_evidence_before_audit_and_state_only_after_commit(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    process = make_process(enforcement="quarantine")
    ctx = make_context(process, "run-order", meta_url=db_url, run_root=tmp_path / "runs")
    ledger = ctx.ledger
    for gate in ("extract", "contract", "evolution", "compatibility", "ddl", "stage"):
        run_gate(gate, ctx)
        assert ledger.state() is None
    run_gate("finalize", ctx)
    assert len(table_rows(db_url, "orders")) == 7  # committed load ...
    assert ledger.state() is None  # ... but state has not moved yet
    assert len(ledger.open_units()) == 2
    # Evidence comes first; the audit refuses when it is missing.
    with pytest.raises(FileNotFoundError):
        run_gate("audit", ctx)
    evidence_path = Path(run_gate("evidence", ctx)["path"])
    assert evidence_path.exists()
    # State refuses to advance without the audit commit.
    with pytest.raises(GateRefused, match="no load audit"):
        run_gate("state", ctx)
    assert ledger.state() is None
    run_gate("audit", ctx)
    audit = ledger.audited("run-order")
    assert audit is not None and audit.evidence_path == str(evidence_path)
    written = datetime.fromisoformat(
        __import__("json").loads(evidence_path.read_text())["written_at"]
    )
    written_utc = written.astimezone(UTC).replace(tzinfo=None)
    mtime_utc = datetime.fromtimestamp(evidence_path.stat().st_mtime, UTC).replace(tzinfo=None)
    assert written_utc < audit.committed_at
    assert mtime_utc <= audit.committed_at
    run_gate("state", ctx)
    st = ledger.state()
    assert st is not None and st.units_committed == 2 and st.updated_at > audit.committed_at
    assert ledger.open_units() == []


def test_same_files_twice_are_processed_once(
    db_url: str, make_process: Any, tmp_path: Path, landing: Path
) -> None:
    process = make_process(
        enforcement="quarantine",
        publish={
            "table": "orders_by_customer",
            "group_by": ["customer"],
            "sum": ["amount"],
            "count_as": "n_orders",
        },
    )
    first = run_process(process, "run-1", meta_url=db_url, run_root=tmp_path / "runs")
    second = run_process(process, "run-2", meta_url=db_url, run_root=tmp_path / "runs")
    assert first["finalize"]["rows_loaded"] == 7
    assert second["extract"] == {"units": 0, "rows": 0}
    ledger = Ledger(engine_for(db_url), "orders")
    assert ledger.counts() == {
        "ingestion_log": 2,
        "validation_log": 2,
        "stage_load_log": 2,
        "transform_log": 2,
        "publish_log": 1,
        "load_audit": 1,
    }
    assert len(table_rows(db_url, "orders")) == 7
    mart = {r["customer"]: r for r in table_rows(db_url, "orders_by_customer")}
    assert mart["acme"]["n_orders"] == 3 and str(mart["acme"]["amount"]) == "177.50"
    # A new file is the only thing the third run touches.
    (landing / "orders" / "orders_2026-11-03.csv").write_text(
        "order_id,customer,amount,ordered_at\n3001,acme,1.00,2026-11-03T08:00:00\n"
    )
    third = run_process(process, "run-3", meta_url=db_url, run_root=tmp_path / "runs")
    assert third["extract"] == {"units": 1, "rows": 1}
    counts = ledger.counts()
    assert counts["ingestion_log"] == counts["transform_log"] == 3
    assert counts["publish_log"] == counts["load_audit"] == 2
    assert len(table_rows(db_url, "orders")) == 8
    assert ledger.state().units_committed == 3
    rows = table_rows(db_url, "transform_log")
    assert {r["status"] for r in rows} == {"PASS"} and {r["retry_count"] for r in rows} == {0}


def test_failed_transform_is_retried_once(db_url: str, make_process: Any, tmp_path: Path) -> None:
    from dagspec_runtime.etl import gates, load

    process = make_process(enforcement="quarantine")
    ctx = make_context(process, "run-retry", meta_url=db_url, run_root=tmp_path / "runs")
    for gate in ("extract", "contract", "evolution", "compatibility", "ddl", "stage"):
        run_gate(gate, ctx)
    calls: list[int] = []

    def flaky(*args: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("transient")
        return load.finalize(*args)

    gates.finalize(ctx, attempt=flaky)
    assert len(calls) == 3  # the batch, then each of the two units on its own
    rows = table_rows(db_url, "transform_log")
    assert [(r["status"], r["retry_count"]) for r in rows] == [("PASS", 1), ("PASS", 1)]

    def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("always")

    ctx2 = make_context(process, "run-retry2", meta_url=db_url, run_root=tmp_path / "runs2")
    (Path(process["source"]["landing_dir"]) / "orders" / "more.csv").write_text(
        "order_id,customer,amount,ordered_at\n9,x,1.00,2026-11-03T08:00:00\n"
    )
    for gate in ("extract", "contract", "evolution", "compatibility", "ddl", "stage"):
        run_gate(gate, ctx2)
    assert gates.finalize(ctx2, attempt=broken)["failed_units"] == 1  # tried, retried once
    failed = [r for r in table_rows(db_url, "transform_log") if r["status"] == "FAIL"]
    assert len(failed) == 1 and failed[0]["retry_count"] == 1
    assert gates.finalize(ctx2, attempt=broken)["failed_units"] == 1  # not tried again
    failed = [r for r in table_rows(db_url, "transform_log") if r["status"] == "FAIL"]
    assert len(failed) == 1 and failed[0]["retry_count"] == 1
    for gate in ("evidence", "audit"):
        run_gate(gate, ctx2)
    with pytest.raises(GateRefused, match=r"unit \d+ \(orders/more.csv\) failed its transform"):
        run_gate("state", ctx2)


def test_sql_table_source_advances_watermark_after_commit(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    engine = engine_for(db_url)
    md = sa.MetaData()
    src = sa.Table(
        "src_orders",
        md,
        sa.Column("order_id", sa.BigInteger),
        sa.Column("customer", sa.Text),
        sa.Column("amount", sa.Numeric(18, 2)),
        sa.Column("ordered_at", sa.DateTime),
    )
    md.create_all(engine)

    def add(*ids: int, day: int) -> None:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(src),
                [
                    {
                        "order_id": i,
                        "customer": "c",
                        "amount": 2,
                        "ordered_at": datetime(2026, 1, day, i),
                    }
                    for i in ids
                ],
            )

    add(1, 2, day=1)
    process = make_process(
        source={"kind": "table", "table": "src_orders", "watermark_column": "ordered_at"},
        sink={"table": "orders", "strategy": "merge", "merge_key": ["order_id"]},
    )
    run_process(process, "t-1", meta_url=db_url, run_root=tmp_path / "runs")
    assert Ledger(engine, "orders").state().watermark == "2026-01-01T02:00:00"
    add(3, day=2)
    second = run_process(process, "t-2", meta_url=db_url, run_root=tmp_path / "runs")
    assert second["extract"] == {"units": 1, "rows": 1}
    third = run_process(process, "t-3", meta_url=db_url, run_root=tmp_path / "runs")
    assert third["extract"] == {"units": 0, "rows": 0}
    assert sorted(r["order_id"] for r in table_rows(db_url, "orders")) == [1, 2, 3]
    assert Ledger(engine, "orders").state().watermark == "2026-01-02T03:00:00"
