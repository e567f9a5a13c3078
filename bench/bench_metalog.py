"""Meta-log throughput: file records per second on SQLite and PostgreSQL (no assertions).

Two measures per backend: bulk ingestion (register N landing files) and the full per-file
bookkeeping of a run (register, claim, validation/stage/transform PASS rows, state commit).
PostgreSQL is a throwaway server from scripts/pg-up.sh, stopped afterwards. Goal on SQLite:
>= 2,000 file records/s for ingestion.

    .venv/bin/python bench/bench_metalog.py [--files 5000] [--lifecycle 1000] [--no-pg]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from dagspec_runtime.metalog import PASS, Ledger, engine_for  # noqa: E402
from dagspec_runtime.metalog.ledger import UnitRef  # noqa: E402


def refs(n: int, prefix: str) -> list[UnitRef]:
    return [
        UnitRef(
            f"{prefix}/file_{i:07d}.csv", hashlib.sha256(f"{prefix}{i}".encode()).hexdigest(), i
        )
        for i in range(n)
    ]


def bench_ingest(url: str, n: int) -> float:
    ledger = Ledger(engine_for(url), "bench_ingest")
    ledger.ensure()
    units = refs(n, "ingest")
    started = time.perf_counter()
    ledger.register(units)
    return n / (time.perf_counter() - started)


def bench_lifecycle(url: str, n: int) -> float:
    ledger = Ledger(engine_for(url), "bench_cycle")
    ledger.ensure()
    units = refs(n, "cycle")
    started = time.perf_counter()
    ids = sorted(ledger.register(units).values())
    held = ledger.claim("bench-run", ids, 600)
    for step in ("validation", "stage", "transform"):
        for uid in held:
            ledger.set_status(step, uid, "bench-run", PASS, rows_in=1, rows_out=1)
    ledger.commit_state("bench-run", held, None)
    return n / (time.perf_counter() - started)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--lifecycle", type=int, default=1000)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dagspec-bench-"))
    backends = [("sqlite", f"sqlite:///{work / 'meta.sqlite'}")]
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
        rows = []
        for name, url in backends:
            rows.append((name, bench_ingest(url, args.files), bench_lifecycle(url, args.lifecycle)))
        print(f"{'backend':<12} {'ingest files/s':>16} {'full lifecycle files/s':>24}")
        print(f"{'-' * 12} {'-' * 16} {'-' * 24}")
        for name, ingest, cycle in rows:
            print(f"{name:<12} {ingest:>16,.0f} {cycle:>24,.0f}")
        print(
            f"(ingest: {args.files} files in one bulk register; lifecycle: {args.lifecycle} files,"
            " one transaction per log row; SQLite goal >= 2,000 files/s ingest)"
        )
    finally:
        if pg_dir is not None:
            subprocess.run([str(ROOT / "scripts" / "pg-down.sh"), str(pg_dir)])
            shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
