"""Decimals stay decimals: contract columns read back digit for digit on SQLite and PostgreSQL,
marts sum them exactly, and JSON numbers never pass through float."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagspec_runtime.etl import run_process
from dagspec_runtime.metalog import engine_for

pytestmark = pytest.mark.postgres

BIG = ["1234567890123456.78", "9999999999999999.99", "0.10"]


def read(url: str, table: str, order: str) -> list[dict[str, Any]]:
    """Rows as a user reading the table with SQLAlchemy reflection gets them."""
    engine = engine_for(url)
    t = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(t.c[order]))]


def files_process(make_process: Any, landing: Path, fmt: str, **over: Any) -> dict[str, Any]:
    return make_process(
        source={"kind": "files", "format": fmt, "landing_dir": str(landing), "glob": f"*.{fmt}"},
        **over,
    )


def test_csv_decimals_read_back_exactly_and_mart_sums_exactly(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    landing = tmp_path / "exact"
    landing.mkdir()
    lines = ["order_id,customer,amount,ordered_at"]
    lines += [f"{i},big,{v},2026-11-01T09:00:00" for i, v in enumerate(BIG, start=1)]
    lines += [f"{10 + i},ten,0.10,2026-11-01T10:00:00" for i in range(10)]
    (landing / "a.csv").write_text("\n".join(lines) + "\n")
    process = files_process(
        make_process,
        landing,
        "csv",
        publish={"table": "orders_by_customer", "group_by": ["customer"], "sum": ["amount"]},
    )
    run_process(process, "exact-1", meta_url=db_url, run_root=tmp_path / "runs")
    rows = read(db_url, "orders", "order_id")
    assert [r["amount"] for r in rows[:3]] == [Decimal(v) for v in BIG]
    assert all(isinstance(r["amount"], Decimal) for r in rows)
    assert [str(r["amount"]) for r in rows[:3]] == BIG
    mart = {r["customer"]: r for r in read(db_url, "orders_by_customer", "customer")}
    assert str(mart["ten"]["amount"]) == "1.00"
    assert mart["ten"]["row_count"] == 10
    assert mart["big"]["amount"] == Decimal("11234567890123456.87")


def test_jsonl_numbers_are_exact_and_reasons_quote_the_file(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    landing = tmp_path / "jsonl"
    landing.mkdir()
    records = [
        '{"order_id": 1, "customer": "a", "amount": 1234567890123456.78, '
        '"ordered_at": "2026-11-01T09:00:00"}',
        '{"order_id": 2, "customer": "a", "amount": 9999999999999999.99, '
        '"ordered_at": "2026-11-01T09:00:00"}',
        '{"order_id": 3, "customer": "a", "amount": 99999999999999999.99, '
        '"ordered_at": "2026-11-01T09:00:00"}',
        '{"order_id": 4, "customer": "a", "amount": 0.125, "ordered_at": "2026-11-01T09:00:00"}',
    ]
    (landing / "a.jsonl").write_text("\n".join(records) + "\n")
    process = files_process(make_process, landing, "jsonl", enforcement="quarantine")
    run_process(process, "exact-j", meta_url=db_url, run_root=tmp_path / "runs")
    rows = read(db_url, "orders", "order_id")
    assert [(r["order_id"], str(r["amount"])) for r in rows] == [
        (1, "1234567890123456.78"),
        (2, "9999999999999999.99"),
    ]
    (qfile,) = (tmp_path / "quarantine").rglob("*.csv")
    with qfile.open(newline="") as fh:
        reasons = {row["order_id"]: row["_reason"] for row in csv.DictReader(fh)}
    assert "'99999999999999999.99' does not fit decimal(18,2)" in reasons["3"]
    assert "'0.125' has more than 2 decimal places" in reasons["4"]
    assert "e+" not in json.dumps(reasons).lower()


def test_sqlite_numeric_target_is_refused_not_rounded(make_process: Any, tmp_path: Path) -> None:
    """A target made elsewhere with NUMERIC (REAL affinity on SQLite) would round the digits."""
    from dagspec_runtime.etl import GateRefused

    url = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    engine = engine_for(url)
    md = sa.MetaData()
    sa.Table(
        "orders",
        md,
        sa.Column("order_id", sa.BigInteger),
        sa.Column("customer", sa.Text),
        sa.Column("amount", sa.Numeric(18, 2)),
        sa.Column("ordered_at", sa.DateTime),
    )
    md.create_all(engine)
    process = make_process(enforcement="quarantine")
    with pytest.raises(GateRefused, match=r"amount: NUMERIC\(18, 2\) \(inexact on SQLite\)"):
        run_process(process, "legacy", meta_url=url, run_root=tmp_path / "runs")
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM orders")) == 0
