"""Strict reading, and one bad file never stops the others: a row with more fields than the
header is quarantined with its text (never truncated); a UTF-8 byte order mark is accepted; a
file that cannot be read (Latin-1 content or name, malformed or array JSON line, a field over
128 KiB) is named as failed in the run report and in `dagspec meta list` while the good files
load, and the run fails (exit 1)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagspec_runtime.etl import run_with_report
from dagspec_runtime.metalog import engine_for

pytestmark = pytest.mark.postgres

HEADER = "order_id,customer,amount,ordered_at\n"
ROW = '{{"order_id": {i}, "customer": "{c}", "amount": "{a}", "ordered_at": "2026-11-01T09:00:00"}}'


def loaded(url: str) -> dict[int, Any]:
    engine = engine_for(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT order_id, customer, amount FROM orders"))
        return {r.order_id: (r.customer, str(r.amount)) for r in rows}


def meta_list(url: str) -> list[dict[str, Any]]:
    """`dagspec meta list --format json`, as an operator runs it."""
    out = subprocess.run(
        [sys.executable, "-m", "dagspec", "meta", "--db", url, "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_mixed_run_loads_good_files_and_names_each_bad_one(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    landing = tmp_path / "mixed"
    landing.mkdir()
    (landing / "a_good.jsonl").write_text(
        ROW.format(i=1, c="ann", a="1.50") + "\n" + ROW.format(i=2, c="bob", a="2.25") + "\n"
    )
    (landing / "b_latin1.jsonl").write_bytes(ROW.format(i=3, c="café", a="3").encode("latin-1"))
    (landing / "c_malformed.jsonl").write_text(
        ROW.format(i=4, c="eve", a="4") + '\n{"order_id": 5, "customer": \n'
    )
    (landing / "d_array.jsonl").write_text('[6, "joe", "6", "2026-11-01T09:00:00"]\n')
    (landing / "e_bom.jsonl").write_bytes(
        b"\xef\xbb\xbf" + ROW.format(i=7, c="zoë", a="7").encode()
    )
    process = make_process(
        source={"kind": "files", "format": "jsonl", "landing_dir": str(landing), "glob": "*"},
        enforcement="quarantine",
    )
    report = run_with_report(process, "mixed-1", meta_url=db_url, run_root=tmp_path / "runs")

    assert loaded(db_url) == {1: ("ann", "1.50"), 2: ("bob", "2.25"), 7: ("zoë", "7.00")}
    assert report.status == "failed"
    failed = {u["path"]: u["message"] for u in report.failed_units}
    assert set(failed) == {"b_latin1.jsonl", "c_malformed.jsonl", "d_array.jsonl"}
    assert "not utf-8 text" in failed["b_latin1.jsonl"]
    assert "line 2: malformed JSON" in failed["c_malformed.jsonl"]
    assert "line 1: a JSON list, not an object" in failed["d_array.jsonl"]
    for name in failed:
        assert name in " ".join(report.errors)
    units = {u["path"]: u for u in meta_list(db_url)}
    for name, message in failed.items():
        assert units[name]["failed"] is True
        assert units[name]["message"] == message
    assert units["a_good.jsonl"]["state"] == units["e_bom.jsonl"]["state"] == "COMMITTED"

    # the next run still names the bad files and loads nothing twice
    again = run_with_report(process, "mixed-2", meta_url=db_url, run_root=tmp_path / "runs")
    assert {u["path"] for u in again.failed_units} == set(failed)
    assert len(loaded(db_url)) == 3


def test_csv_extra_fields_bom_long_field_and_latin1_name(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    landing = tmp_path / "csvs"
    landing.mkdir()
    (landing / "a.csv").write_text(
        HEADER + "10,ann,12.50,2026-11-01T09:00:00\n"
        "60,cy,1,234.56,2026-11-01T09:00:00\n"  # unquoted thousands separator: 5 fields
        '61,"1,234.56",7,2026-11-01T09:00:00\n'
        "62,short,1\n"
    )
    (landing / "b_bom.csv").write_bytes(
        b"\xef\xbb\xbf" + (HEADER + "20,bea,2.00,2026-11-01T09:00:00\r\n").encode()
    )
    (landing / "c_long.csv").write_text(HEADER + f"30,{'x' * (129 * 1024)},1,2026-11-01\n")
    (landing / os.fsdecode(b"d_caf\xe9.csv")).write_text(HEADER + "40,dee,4,2026-11-01\n")
    process = make_process(
        source={"kind": "files", "format": "csv", "landing_dir": str(landing), "glob": "*.csv"},
        enforcement="quarantine",
    )
    report = run_with_report(process, "csv-1", meta_url=db_url, run_root=tmp_path / "runs")

    assert loaded(db_url) == {10: ("ann", "12.50"), 20: ("bea", "2.00"), 61: ("1,234.56", "7.00")}
    (qfile,) = (tmp_path / "quarantine").rglob("*.csv")
    with qfile.open(newline="") as fh:
        reasons = [r["_reason"] for r in csv.DictReader(fh)]
    assert reasons == [
        "5 fields where the header has 4 (an unquoted delimiter or a lost quote?): "
        "'60,cy,1,234.56,2026-11-01T09:00:00'",
        "3 fields where the header has 4 (an unquoted delimiter or a lost quote?): '62,short,1'",
    ]
    failed = {u["path"]: u["message"] for u in report.failed_units}
    assert set(failed) == {"c_long.csv", "d_caf\\xe9.csv"}
    assert "field larger than field limit" in failed["c_long.csv"]
    assert "file name is not valid UTF-8" in failed["d_caf\\xe9.csv"]
    assert report.status == "failed"
    units = {u["path"]: u for u in meta_list(db_url)}
    assert units["d_caf\\xe9.csv"]["failed"] and units["c_long.csv"]["failed"]
