"""Crash and concurrency: a run SIGKILLed inside the finalize transaction is completed by the
next run without duplicates; two concurrent runs on PostgreSQL never process a file twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagspec_runtime.etl import run_process
from dagspec_runtime.metalog import Ledger, engine_for

pytestmark = pytest.mark.postgres

# Runs one process in a child; optionally parks inside the finalize transaction (after the
# rows are inserted, before commit) so the parent can SIGKILL it there.
CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from dagspec_runtime.etl import load, run_process

    args = json.loads(sys.argv[1])
    if args.get("park_marker"):
        original = load._move
        def parked(*a, **k):
            n = original(*a, **k)
            Path(args["park_marker"]).write_text(str(n))
            time.sleep(120)
            return n
        load._move = parked
    if args.get("barrier"):
        while not Path(args["barrier"]).exists():
            time.sleep(0.01)
    run_process(args["process"], args["run_id"], meta_url=args["url"], run_root=args["root"])
    """
)


def spawn(args: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def target_ids(url: str) -> list[int]:
    engine = engine_for(url)
    t = sa.Table("orders", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return [r.order_id for r in conn.execute(sa.select(t.c.order_id))]


def test_killed_during_transform_next_run_completes(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    process = make_process(enforcement="quarantine", lease_seconds=1)
    marker = tmp_path / "parked"
    child = spawn(
        {
            "process": process,
            "run_id": "killed",
            "url": db_url,
            "root": str(tmp_path / "runs"),
            "park_marker": str(marker),
        }
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "child never reached the transform"
        time.sleep(0.05)
    assert marker.read_text() == "7"  # rows were inserted, transaction still open
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    ledger = Ledger(engine_for(db_url), "orders")
    statuses = {r.status for r in _rows(db_url, "transform_log")}
    assert statuses == {"PENDING"}
    assert target_ids(db_url) == []  # the open transaction died with the process
    assert ledger.state() is None

    time.sleep(1.2)  # the dead run's lease expires
    reports = run_process(process, "resumed", meta_url=db_url, run_root=tmp_path / "runs")
    assert reports["extract"]["rows"] == 0  # nothing re-read: both files were already staged
    assert reports["finalize"]["rows_loaded"] == 7
    ids = target_ids(db_url)
    assert len(ids) == 7 and len(set(ids)) == 7
    assert ledger.counts() == {
        "ingestion_log": 2,
        "validation_log": 2,
        "stage_load_log": 2,
        "transform_log": 2,
        "publish_log": 0,
        "load_audit": 1,
    }
    assert {r.status for r in _rows(db_url, "transform_log")} == {"PASS"}
    assert ledger.state().units_committed == 2
    again = run_process(process, "again", meta_url=db_url, run_root=tmp_path / "runs")
    assert again["extract"]["units"] == 0 and len(target_ids(db_url)) == 7


def _rows(url: str, table: str) -> list[Any]:
    engine = engine_for(url)
    t = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t)))


def test_concurrent_runs_on_postgres_never_process_a_file_twice(
    new_pg_database: Any, make_process: Any, tmp_path: Path, landing: Path
) -> None:
    url = new_pg_database()
    for i in range(40):
        rows = "".join(
            f"{100000 + i * 100 + j},c{j % 3},{j}.25,2026-11-05T10:{j:02d}:00\n" for j in range(25)
        )
        (landing / "orders" / f"bulk_{i:03d}.csv").write_text(
            "order_id,customer,amount,ordered_at\n" + rows
        )
    # Each run claims at most 15 units, so both runs get work and race on the rest.
    process = make_process(enforcement="quarantine", max_units_per_run=15)
    barrier = tmp_path / "go"
    children = [
        spawn(
            {
                "process": process,
                "run_id": f"run-{n}",
                "url": url,
                "root": str(tmp_path / "runs"),
                "barrier": str(barrier),
            }
        )
        for n in range(2)
    ]
    time.sleep(1.0)  # both children imported and waiting
    barrier.write_text("go")
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
    rounds = 0
    while Ledger(engine_for(url), "orders").open_units() and rounds < 5:  # drain the rest
        run_process(process, f"drain-{rounds}", meta_url=url, run_root=tmp_path / "runs")
        rounds += 1
    ids = target_ids(url)
    assert len(ids) == 7 + 40 * 25
    assert not [k for k, n in Counter(ids).items() if n > 1], "a row was loaded twice"
    ledger = Ledger(engine_for(url), "orders")
    counts = ledger.counts()
    assert counts["ingestion_log"] == counts["validation_log"] == 42
    assert counts["stage_load_log"] == counts["transform_log"] == 42
    markers = _rows(url, "dagspec_loaded_units")
    assert len(markers) == 42
    per_run = Counter(m.run_id for m in markers)
    print("units finalized per run:", dict(per_run))
    assert per_run["run-0"] > 0 and per_run["run-1"] > 0, per_run
    assert ledger.state().units_committed == 42
    assert {r.state for r in _rows(url, "ingestion_log")} == {"COMMITTED"}
