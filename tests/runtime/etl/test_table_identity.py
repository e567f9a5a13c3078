"""Table identity at run start, on both backends: a mart that is the sink under another
spelling (`main.orders` on SQLite, `public.orders` on PostgreSQL, any case) or another
process's sink is refused before anything is written, and the loaded rows stay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagspec_runtime.etl import GateRefused, run_process
from dagspec_runtime.metalog import engine_for

pytestmark = pytest.mark.postgres


def _default_schema(url: str) -> str:
    return "main" if url.startswith("sqlite") else "public"


def _count(url: str) -> int:
    with engine_for(url).connect() as conn:
        return int(conn.scalar(sa.text("SELECT count(*) FROM orders")) or 0)


@pytest.mark.parametrize("spelling", ["{schema}.orders", "{schema}.ORDERS", "Orders"])
def test_mart_that_is_the_sink_is_refused(
    db_url: str, make_process: Any, tmp_path: Path, spelling: str
) -> None:
    run_process(
        make_process(enforcement="quarantine"), "load", meta_url=db_url, run_root=tmp_path / "runs"
    )
    loaded = _count(db_url)
    assert loaded > 0
    mart = spelling.format(schema=_default_schema(db_url))
    process = make_process(
        enforcement="quarantine",
        publish={"table": mart, "group_by": ["customer"], "sum": ["amount"]},
    )
    with pytest.raises(GateRefused, match=r"the mart table .* and the sink table `orders`"):
        run_process(process, "clash", meta_url=db_url, run_root=tmp_path / "runs")
    assert _count(db_url) == loaded


def test_mart_that_is_another_processes_sink_is_refused(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    run_process(
        make_process(enforcement="quarantine"), "load", meta_url=db_url, run_root=tmp_path / "runs"
    )
    loaded = _count(db_url)
    other = make_process(
        enforcement="quarantine",
        name="totals",
        sink={"table": "totals", "strategy": "append"},
        publish={
            "table": f"{_default_schema(db_url)}.orders",
            "group_by": ["customer"],
            "sum": ["amount"],
        },
    )
    with pytest.raises(GateRefused, match="is the sink table `orders` of process `orders`"):
        run_process(other, "other", meta_url=db_url, run_root=tmp_path / "runs")
    assert _count(db_url) == loaded
