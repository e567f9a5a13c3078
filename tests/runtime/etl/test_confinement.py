"""Sources stay inside their landing folder: a planted symlink or a `..` glob stops the run
before anything is registered or loaded (the lint side is tests/specs/invalid/
manifest-glob-escape.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagspec_runtime.etl import GateRefused, run_process
from dagspec_runtime.metalog import Ledger, engine_for

pytestmark = pytest.mark.postgres


def orders_count(url: str) -> int:
    engine = engine_for(url)
    if not sa.inspect(engine).has_table("orders"):
        return -1
    with engine.connect() as conn:
        return int(conn.scalar(sa.text("SELECT count(*) FROM orders")) or 0)


def test_symlink_out_of_landing_is_refused_and_nothing_loads(
    db_url: str, make_process: Any, landing: Path, tmp_path: Path
) -> None:
    process = make_process(enforcement="quarantine")
    run_process(process, "before", meta_url=db_url, run_root=tmp_path / "runs")
    assert orders_count(db_url) == 7
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("order_id,customer,amount,ordered_at\n666,evil,1.00,2026-11-01T00:00:00\n")
    (landing / "orders" / "zz_planted.csv").symlink_to(secret)
    (landing / "orders" / "new.csv").write_text(
        "order_id,customer,amount,ordered_at\n3001,acme,1.00,2026-11-03T00:00:00\n"
    )
    with pytest.raises(GateRefused, match=r"zz_planted.csv resolves to .*outside the landing"):
        run_process(process, "planted", meta_url=db_url, run_root=tmp_path / "runs")
    assert orders_count(db_url) == 7  # target unchanged: not even the good new file
    paths = {u.path for u in Ledger(engine_for(db_url), "orders").open_units()}
    assert paths == set()  # nothing registered


def test_dotdot_glob_is_refused_at_run_time(
    db_url: str, make_process: Any, landing: Path, tmp_path: Path
) -> None:
    (tmp_path / "passwd").write_text("order_id,customer,amount,ordered_at\n1,x,1.00,2026-11-01\n")
    process = make_process(
        source={"kind": "files", "format": "csv", "landing_dir": str(landing), "glob": "../*"}
    )
    with pytest.raises(GateRefused, match="climbs out of the landing folder"):
        run_process(process, "dotdot", meta_url=db_url, run_root=tmp_path / "runs")
    assert orders_count(db_url) == -1
