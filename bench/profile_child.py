"""Where a cold compile spends its CPU: cProfile of one compile in this process.

`python bench/profile_child.py [--specs N] [--sort tottime|cumulative] [--top K] [ROOT]`
compiles ROOT (default: a fresh project of N self-contained ~130-line Entity specs from
bench/fixtures.py under bench/out/) with no `.dagspec/` cache and no output folder, and prints
the top K functions by CPU time. The spec loading runs in this process (no worker processes), so the
profile sees all of it; the Airflow import check is not part of `compile_project`.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import time
from pathlib import Path

import fixtures

BENCH = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path)
    parser.add_argument("--specs", type=int, default=1000)
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative"))
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    root = args.root
    if root is None:
        root = BENCH / "out" / f"profile-{args.specs}"
        if not (root / "dagspec.yaml").is_file():
            fixtures.write_project(root, args.specs, rich=True)
    shutil.rmtree(root / "generated_dags", ignore_errors=True)
    shutil.rmtree(root / ".dagspec", ignore_errors=True)

    from compiler import analysis, api

    analysis.PARALLEL_FROM = sys.maxsize  # every spec loaded here, where the profiler sees it
    profile = cProfile.Profile(time.process_time)  # CPU time: the machine may be shared
    profile.enable()
    result = api.compile_project(root)
    profile.disable()
    if not result.ok:
        print(result.findings[:5], file=sys.stderr)
        return 1
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
