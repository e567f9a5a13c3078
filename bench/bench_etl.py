"""ETL throughput end to end: N small landing files through the whole gate chain of one
manifest process (extract → contract → evolution → compatibility → ddl → stage → finalize →
evidence → audit → state → publish), on SQLite and PostgreSQL, then a no-op rerun.

What is measured, per backend, on a fresh database and landing folder:

- full run: wall time of `run_process` over N new CSV files of 3 rows each (quarantine
  enforcement, decimal amounts, a mart with a sum), from the first file read to the mart
  rebuilt; files/s = N / wall time. CPU s is this process's CPU time (user + system) in the
  same span (the database server's CPU on PostgreSQL is not included), so the figure can be
  read on a busy machine: files/s at 100 % of one core ~ N / CPU s.
- no-op rerun: the same process again with nothing new (every file hashed and found
  committed), wall and CPU seconds.

Rows and distinct ids in the target are checked after each run (N*3 each), so a fast wrong
run cannot pass. PostgreSQL is a throwaway server from scripts/pg-up.sh, stopped afterwards.

    .venv/bin/python bench/bench_etl.py [--files 5000] [--no-pg]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

import sqlalchemy as sa  # noqa: E402
from dagspec_runtime.etl import run_process  # noqa: E402
from dagspec_runtime.metalog import engine_for  # noqa: E402

ROWS_PER_FILE = 3


def make_landing(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        lines = ["order_id,customer,amount,ordered_at"]
        for j in range(ROWS_PER_FILE):
            oid = i * ROWS_PER_FILE + j
            lines.append(f"{oid},c{oid % 50},{oid % 1000}.{oid % 100:02d},2026-11-01T09:00:00")
        (folder / f"orders_{i:06d}.csv").write_text("\n".join(lines) + "\n")


def process(landing: Path, work: Path) -> dict[str, Any]:
    return {
        "name": "bench_orders",
        "source": {"kind": "files", "format": "csv", "landing_dir": str(landing), "glob": "*.csv"},
        "sink": {"table": "bench_orders", "strategy": "append"},
        "contract": {
            "enforcement": "quarantine",
            "columns": [
                {"name": "order_id", "type": "integer", "nullable": False},
                {"name": "customer", "type": "string"},
                {
                    "name": "amount",
                    "type": "decimal",
                    "precision": 18,
                    "scale": 2,
                    "nullable": False,
                },
                {"name": "ordered_at", "type": "timestamp", "nullable": False},
            ],
        },
        "evidence_dir": str(work / "evidence"),
        "quarantine": {"dir": str(work / "quarantine")},
        "publish": {
            "table": "bench_orders_by_customer",
            "group_by": ["customer"],
            "sum": ["amount"],
        },
    }


def timed(fn: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def check(url: str, expected: int) -> None:
    with engine_for(url).connect() as conn:
        rows, distinct = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT order_id) FROM bench_orders")
        ).one()
    if (rows, distinct) != (expected, expected):
        raise SystemExit(f"wrong load: {rows} rows, {distinct} distinct ids, want {expected}")


def bench(url: str, n: int, work: Path) -> dict[str, float]:
    landing = work / "landing"
    make_landing(landing, n)
    proc = process(landing, work)
    wall, cpu, reports = timed(
        lambda: run_process(proc, "bench-1", meta_url=url, run_root=work / "runs")
    )
    assert reports["finalize"]["units"] == n, reports["finalize"]
    check(url, n * ROWS_PER_FILE)
    nwall, ncpu, again = timed(
        lambda: run_process(proc, "bench-2", meta_url=url, run_root=work / "runs")
    )
    assert again["extract"] == {"units": 0, "rows": 0}, again["extract"]
    check(url, n * ROWS_PER_FILE)
    return {"wall": wall, "cpu": cpu, "noop_wall": nwall, "noop_cpu": ncpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dagspec-bench-etl-"))
    backends = [("sqlite", f"sqlite:///{work / 'sqlite' / 'meta.sqlite'}")]
    (work / "sqlite").mkdir()
    pg_dir = None
    if not args.no_pg:
        pg_dir = Path(tempfile.mkdtemp(prefix="dagspec-bench-pg-"))
        up = subprocess.run(
            [str(ROOT / "scripts" / "pg-up.sh"), str(pg_dir)], capture_output=True, text=True
        )
        if up.returncode != 0:
            print(f"postgresql skipped: pg-up.sh failed\n{up.stderr}", file=sys.stderr)
        else:
            backends.append(("postgresql", up.stdout.strip().splitlines()[-1]))
    try:
        results = [(name, bench(url, args.files, work / name)) for name, url in backends]
        print(
            f"{args.files:,} landing files x {ROWS_PER_FILE} rows, whole gate chain incl. "
            "publish, one process, fresh database"
        )
        print(
            f"{'backend':<11} {'files/s':>8} {'wall s':>7} {'CPU s':>6} {'files/CPU-s':>11}"
            f" {'no-op wall s':>12} {'no-op CPU s':>11}"
        )
        for name, r in results:
            print(
                f"{name:<11} {args.files / r['wall']:>8,.0f} {r['wall']:>7.2f} {r['cpu']:>6.2f}"
                f" {args.files / r['cpu']:>11,.0f} {r['noop_wall']:>12.2f}"
                f" {r['noop_cpu']:>11.2f}"
            )
    finally:
        if pg_dir is not None:
            subprocess.run([str(ROOT / "scripts" / "pg-down.sh"), str(pg_dir)], capture_output=True)
            shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
