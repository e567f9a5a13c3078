"""ETL peak memory: one landing file of a given size through the whole gate chain, on SQLite
and PostgreSQL, in a child process whose peak RSS (ru_maxrss from wait4) is the figure.

Per backend and size: a CSV landing file generated on the fly (order_id, customer, a
decimal(18,2) amount, a timestamp; ~40 bytes a row), loaded with quarantine enforcement and a
mart with a sum and an average, on a fresh database. Printed: file MB, rows, peak RSS MB of the
child (the process running every gate; the database server's memory is not included), wall
and CPU seconds of the child, rows/s. The goal is a peak RSS independent of the file size
(<= 300 MB for 20 MB and 2 GB files); rows in the target are checked after each run.

    .venv/bin/python bench/bench_etl_memory.py [--mb 20,200] [--no-pg]    # --mb 20,2000: 2 GB
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_etl import process  # noqa: E402

CHILD = """
import json, sys
sys.path.insert(0, sys.argv[2])
from dagspec_runtime.etl import run_process
args = json.loads(sys.argv[1])
reports = run_process(args["process"], "mem-1", meta_url=args["url"], run_root=args["runs"])
print(json.dumps({"rows": reports["finalize"]["rows_loaded"]}))
"""


def make_file(path: Path, mb: int) -> int:
    """A CSV of about `mb` MB, written in blocks (the parent never holds the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target, rows, size = mb * 1_000_000, 0, 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("order_id,customer,amount,ordered_at\n")
        while size < target:
            block = "".join(
                f"{i},c{i % 50},{i % 100000}.{i % 100:02d},2026-11-01T09:{i % 60:02d}:00\n"
                for i in range(rows, rows + 10_000)
            )
            fh.write(block)
            size += len(block)
            rows += 10_000
    return rows


def run_child(url: str, work: Path, landing: Path) -> tuple[float, float, float, int]:
    proc = process(landing, work)
    proc["publish"]["avg"] = ["amount"]
    args = json.dumps({"process": proc, "url": url, "runs": str(work / "runs")})
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, args, str(ROOT / "plugins")], stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"the child failed with status {status}")
    rows = json.loads(out)["rows"]
    return usage.ru_maxrss / 1024, wall, usage.ru_utime + usage.ru_stime, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", default="20,200", help="file sizes in MB, comma-separated")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    sizes = [int(x) for x in args.mb.split(",")]
    base = Path(tempfile.mkdtemp(prefix="dagspec-bench-mem-"))
    pg_dir = None
    backends = [("sqlite", None)]
    if not args.no_pg:
        pg_dir = Path(tempfile.mkdtemp(prefix="dagspec-bench-pg-"))
        up = subprocess.run(
            [str(ROOT / "scripts" / "pg-up.sh"), str(pg_dir)], capture_output=True, text=True
        )
        if up.returncode != 0:
            print(f"postgresql skipped: pg-up.sh failed\n{up.stderr}", file=sys.stderr)
        else:
            backends.append(("postgresql", up.stdout.strip().splitlines()[-1]))
    print(
        f"{'backend':<11} {'file MB':>8} {'rows':>11} {'peak RSS MB':>11} {'wall s':>8}"
        f" {'CPU s':>7} {'rows/CPU-s':>10}"
    )
    try:
        for mb in sizes:
            landing = base / f"landing-{mb}"
            expected = make_file(landing / "orders.csv", mb)
            for name, pg_url in backends:
                work = base / f"{name}-{mb}"
                work.mkdir()
                if pg_url is None:
                    url = f"sqlite:///{work / 'meta.sqlite'}"
                else:
                    import sqlalchemy as sa

                    db = f"mem_{mb}"
                    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
                    with admin.connect() as conn:
                        conn.execute(sa.text(f'CREATE DATABASE "{db}"'))
                    admin.dispose()
                    url = sa.make_url(pg_url).set(database=db).render_as_string(hide_password=False)
                rss, wall, cpu, rows = run_child(url, work, landing)
                if rows != expected:
                    raise SystemExit(f"{name}: loaded {rows} rows, want {expected}")
                size = (landing / "orders.csv").stat().st_size / 1e6
                print(
                    f"{name:<11} {size:>8.0f} {rows:>11,} {rss:>11.0f} {wall:>8.1f}"
                    f" {cpu:>7.1f} {rows / cpu:>10,.0f}",
                    flush=True,
                )
                shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(landing, ignore_errors=True)
    finally:
        if pg_dir is not None:
            subprocess.run([str(ROOT / "scripts" / "pg-down.sh"), str(pg_dir)], capture_output=True)
            shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
