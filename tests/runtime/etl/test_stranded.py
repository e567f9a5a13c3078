"""No stranded work: failed, interrupted and killed runs give their files back (at once, or one
short lease later for `kill -9`), and a unit that failed its retry neither blocks new files nor
stays stuck: `dagspec meta` lists it and re-queues it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagspec_runtime.etl import GateRefused, run_process
from dagspec_runtime.etl.report import run_with_report
from dagspec_runtime.metalog import Ledger, engine_for
from dagspec_runtime.metalog.ledger import utcnow

from dagspec import cli

pytestmark = pytest.mark.postgres

# Runs one process in a child that parks right after staging (before commit of the stage
# log), so the parent can signal or kill it mid-stage (claims held, nothing finalized).
CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from dagspec_runtime.etl import load, run_process

    args = json.loads(sys.argv[1])
    original = load.stage_units
    def parked(*a, **k):
        n = original(*a, **k)
        Path(args["marker"]).write_text(str(sum(n.values())))
        time.sleep(120)
        return n
    load.stage_units = parked
    run_process(args["process"], args["run_id"], meta_url=args["url"], run_root=args["root"])
    """
)


def park_child(process: dict[str, Any], url: str, tmp_path: Path, run_id: str) -> Any:
    marker = tmp_path / f"{run_id}.parked"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            json.dumps(
                {
                    "process": process,
                    "run_id": run_id,
                    "url": url,
                    "root": str(tmp_path / "runs"),
                    "marker": str(marker),
                }
            ),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "child never reached the stage gate"
        time.sleep(0.05)
    return child


def order_ids(url: str) -> list[int]:
    engine = engine_for(url)
    if not sa.inspect(engine).has_table("orders"):
        return []
    with engine.connect() as conn:
        return list(conn.scalars(sa.text("SELECT order_id FROM orders")))


def claimed(url: str) -> set[str | None]:
    return {u.claimed_by for u in Ledger(engine_for(url), "orders").open_units()}


def test_refused_narrowing_then_fix_loads_the_stranded_file(
    db_url: str, make_process: Any, landing: Path, tmp_path: Path
) -> None:
    first = make_process(enforcement="quarantine")
    first["source"]["glob"] = "orders/orders_2026-11-01.csv"
    run_process(first, "r1", meta_url=db_url, run_root=tmp_path / "runs")
    assert sorted(order_ids(db_url)) == [1001, 1002, 1004, 1006]
    narrowed = make_process(enforcement="quarantine")  # lease 600 s: a stranded file would wait
    amount = next(c for c in narrowed["contract"]["columns"] if c["name"] == "amount")
    amount.update(type="integer", precision=None, scale=None)
    with pytest.raises(GateRefused, match="narrowing refused"):
        run_process(narrowed, "r2", meta_url=db_url, run_root=tmp_path / "runs")
    assert claimed(db_url) == {None}  # the refused run gave its file back at once
    fixed = make_process(enforcement="quarantine")
    report = run_with_report(fixed, "r3", meta_url=db_url, run_root=tmp_path / "runs")
    assert report.passed, report.errors
    assert report.inserted_rows == 3 and report.skipped_claimed == []
    assert sorted(order_ids(db_url)) == [1001, 1002, 1004, 1006, 2001, 2003, 2004]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_releases_claims_and_next_run_loads_all(
    db_url: str, make_process: Any, tmp_path: Path, sig: int
) -> None:
    process = make_process(enforcement="quarantine")  # lease 600 s
    child = park_child(process, db_url, tmp_path, "interrupted")
    assert claimed(db_url) == {"interrupted"}
    os.kill(child.pid, sig)
    _, err = child.communicate(timeout=60)
    assert child.returncode != 0
    assert ("KeyboardInterrupt" if sig == signal.SIGINT else "interrupted by SIGTERM") in err
    assert claimed(db_url) == {None}
    report = run_with_report(process, "next", meta_url=db_url, run_root=tmp_path / "runs")
    assert report.passed, report.errors
    assert report.inserted_rows == 7 and report.skipped_claimed == []
    assert report.quarantined_rows == 3


def test_kill_9_mid_stage_files_free_after_short_lease_loaded_once(
    db_url: str, make_process: Any, tmp_path: Path
) -> None:
    process = make_process(enforcement="quarantine", lease_seconds=3)
    child = park_child(process, db_url, tmp_path, "killed")
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    early = run_with_report(process, "early", meta_url=db_url, run_root=tmp_path / "runs")
    held = [(s["path"], s["holder_run_id"]) for s in early.skipped_claimed]
    until = max(u.claimed_until for u in Ledger(engine_for(db_url), "orders").open_units())
    if utcnow() < until:  # the dead run's lease had not run out yet: its files were skipped
        assert sorted(held) == [
            ("orders/orders_2026-11-01.csv", "killed"),
            ("orders/orders_2026-11-02.csv", "killed"),
        ]
        assert early.inserted_rows == 0
        assert early.to_dict()["skipped_claimed"][0]["holder_run_id"] == "killed"
        time.sleep((until - utcnow()).total_seconds() + 0.1)
    late = run_with_report(process, "late", meta_url=db_url, run_root=tmp_path / "runs")
    assert late.passed, late.errors
    ids = order_ids(db_url)
    assert len(ids) == 7 and len(set(ids)) == 7
    assert early.inserted_rows + late.inserted_rows == 7


def test_failed_unit_listed_requeued_and_new_files_still_load(
    db_url: str,
    make_process: Any,
    landing: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dagspec_runtime.etl import load

    (landing / "orders" / "orders_2026-11-02.csv").unlink()
    process = make_process(enforcement="quarantine")
    ledger = Ledger(engine_for(db_url), "orders")
    original = load.finalize
    broken = {"orders/orders_2026-11-01.csv"}

    def finalize(engine: Any, cfg: Any, run_id: str, unit_ids: list[int]) -> Any:
        paths = {u.path for u in ledger.units(unit_ids)}
        if paths & broken:
            raise RuntimeError("target locked by a long report query")
        return original(engine, cfg, run_id, unit_ids)

    monkeypatch.setattr(load, "finalize", finalize)
    runs = tmp_path / "runs"
    one = run_with_report(process, "f1", meta_url=db_url, run_root=runs)
    assert one.status == "failed" and one.inserted_rows == 0
    (bad,) = one.failed_units
    assert bad["path"] == "orders/orders_2026-11-01.csv"
    assert "target locked" in bad["message"]
    assert any(f"unit {bad['unit_id']} (orders/orders_2026-11-01.csv)" in e for e in one.errors)

    (landing / "orders" / "new.csv").write_text(
        "order_id,customer,amount,ordered_at\n3001,acme,1.00,2026-11-03T00:00:00\n"
    )
    two = run_with_report(process, "f2", meta_url=db_url, run_root=runs)
    assert two.status == "failed" and two.inserted_rows == 1  # the new file loaded anyway
    assert [u["unit_id"] for u in two.failed_units] == [bad["unit_id"]]
    assert sorted(order_ids(db_url)) == [3001]

    assert (
        cli.main(["meta", "--db", db_url, "list", "--process", "orders", "--format", "json"]) == 0
    )
    listed = {u["unit_id"]: u for u in json.loads(capsys.readouterr().out)}
    assert listed[bad["unit_id"]]["failed"] and listed[bad["unit_id"]]["transform"] == "FAIL"
    assert listed[bad["unit_id"]]["transform_retries"] == 1
    assert (
        cli.main(
            [
                "meta",
                "--db",
                db_url,
                "requeue",
                "--process",
                "orders",
                str(bad["unit_id"]),
                "--by",
                "oncall",
                "--reason",
                "lock gone",
            ]
        )
        == 0
    )
    assert "re-queued" in capsys.readouterr().out

    broken.clear()
    three = run_with_report(process, "f3", meta_url=db_url, run_root=runs)
    assert three.passed, three.errors
    assert three.inserted_rows == 4
    assert sorted(order_ids(db_url)) == [1001, 1002, 1004, 1006, 3001]
    from dagspec_runtime.metalog import ops

    (action,) = ops.actions(engine_for(db_url), "orders")
    assert (action["action"], action["actor"], action["reason"]) == (
        "requeue",
        "oncall",
        "lock gone",
    )
    assert action["at"] is not None
    assert (
        cli.main(["meta", "--db", db_url, "skip", "--process", "orders", str(bad["unit_id"])]) == 1
    )  # committed now: nothing to skip


def test_heartbeat_renews_the_lease_of_a_live_run(db_url: str) -> None:
    from dagspec_runtime.etl.claims import holding_claims
    from dagspec_runtime.metalog.ledger import UnitRef

    ledger = Ledger(engine_for(db_url), "beat")
    ledger.ensure()
    ids = list(ledger.register([UnitRef("a.csv", "h1"), UnitRef("b.csv", "h2")]).values())
    ledger.claim("alive", ids, 3)
    first = max(u.claimed_until for u in ledger.open_units())
    with holding_claims(ledger, "alive", 3):
        deadline = time.monotonic() + 30
        while max(u.claimed_until for u in ledger.open_units()) <= first:
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.1)
        assert claimed(db_url) == set()  # other process: nothing of "orders"
        assert {u.claimed_by for u in ledger.open_units()} == {"alive"}
    with pytest.raises(RuntimeError), holding_claims(ledger, "alive", 3):
        raise RuntimeError("a gate failed")
    assert {u.claimed_by for u in ledger.open_units()} == {None}
