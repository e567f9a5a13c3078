"""Cold compile of 1,000 self-contained ~130-line specs: CPU time, min / median / max.

Writes a temporary project of N self-contained Entity specs (bench/fixtures.py, the rich
126-line form: every module with description, env, timeout and required) and runs
`dagspec compile` on it cold (no `.dagspec/` cache, no output folder) in a fresh interpreter
each time (bench/compile_child.py, mode `cli`), with `DAGSPEC_AIRFLOW_CHECK=0`: the Airflow
import check of the written files is a separate cost (a DagBag import of every file, measured
by the parse and dag-processor benches), not the compiler's.

Two CPU figures per run, user + system, worker processes included:
- compile: from after the command's imports to its exit code (what the goal, <= 3 s, is about);
  its system (kernel) part is shown too: mostly creating the 1,000 DAG files and the cache's
  files, which costs more right after many files were deleted (see docs/scale.md);
- command: the whole process, interpreter start and imports included.

`--baseline REV` also runs the compiler as it was at git revision REV (its `compiler/`,
`dagspec/`, `templates/` and `schemas/` exported to a temporary folder), interleaved with the
working tree's run by run, so both see the same machine; the first runs' outputs are compared
byte for byte. `make bench` runs it without a baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

import fixtures

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
GOAL = 3.0


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def export(rev: str, into: Path) -> Path:
    """The compiler as it was at `rev`, importable from `into`."""
    archive = subprocess.run(
        [
            "git",
            "-C",
            str(ROOT),
            "archive",
            "--format=tar",
            rev,
            "compiler",
            "dagspec",
            "templates",
            "schemas",
        ],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_once(root: Path, source: Path | None, trash: Path | None = None) -> dict[str, Any]:
    """One cold `dagspec compile` in a fresh interpreter; `source`: import the compiler from
    there instead of the working tree.

    The previous run's output and cache are moved into `trash` (deleted after the last run),
    or deleted when `trash` is None. On a file system without a journal (this machine's ext4)
    each file created within minutes of a mass deletion pays in the kernel for skipping the
    freed inodes (ext4's `recently_deleted` check), so deleting the last run's ~2,250 files
    just before the next charged it up to ~2 CPU-s more, growing run by run: a cost of the
    bench's own deletions, which a cold compile of a fresh checkout does not have."""
    for name in ("generated_dags", ".dagspec"):
        if trash is not None and (root / name).exists():
            (root / name).rename(Path(tempfile.mkdtemp(dir=trash)) / name)
        else:
            shutil.rmtree(root / name, ignore_errors=True)
    env = {**os.environ, "DAGSPEC_AIRFLOW_CHECK": "0"}
    env.pop("DAGSPEC_CACHE", None)  # the CLI's default: the cache on (and cold)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    before = _children_cpu()
    done = subprocess.run(
        [sys.executable, str(BENCH / "compile_child.py"), str(root), "cli"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    command_cpu = _children_cpu() - before
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        sys.exit(f"bench: compile failed ({done.returncode}):\n{tail}")
    row = json.loads(lines[-1])
    row["command_cpu"] = command_cpu
    expected = str((source or ROOT) / "compiler")
    if row["compiler"] != expected:
        sys.exit(f"bench: the child imported {row['compiler']}, not {expected}")
    return row


def output_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((root / "generated_dags").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", metavar="REV", help="also measure the compiler at REV")
    parser.add_argument(
        "--delete-between",
        action="store_true",
        help="delete the previous run's files just before each run (see run_once)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dagspec-cold-") as tmp:
        root = Path(tmp) / "project"
        trash = Path(tmp) / "previous-runs"
        trash.mkdir()
        fixtures.write_project(root, args.specs, rich=True)
        lines = len(fixtures.entity_spec(fixtures.entity_name(0), rich=True).splitlines())
        variants: dict[str, Path | None] = {"working tree": None}
        if args.baseline:
            rev = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", args.baseline],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            variants = {
                f"baseline {rev}": export(args.baseline, Path(tmp) / "baseline"),
                **variants,
            }
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        digests: dict[str, str] = {}
        load = os.getloadavg()[0]
        print(
            f"cold compile of {args.specs:,} self-contained {lines}-line specs, "
            f"{args.repeats} runs per variant, interleaved; DAGSPEC_AIRFLOW_CHECK=0 "
            "(the Airflow import check is not timed); previous runs' files "
            f"{'deleted just before each run' if args.delete_between else 'moved aside'}; "
            f"load average before {load:.1f}",
            flush=True,
        )
        for rep in range(args.repeats):
            for name, source in variants.items():
                row = run_once(root, source, None if args.delete_between else trash)
                if not row["ok"] or row["written"] != args.specs:
                    sys.exit(f"bench: {name} wrote {row['written']} of {args.specs} files")
                if rep == 0:
                    digests[name] = output_digest(root)
                rows[name].append(row)
                print(
                    f"  run {rep + 1} {name}: compile {row['cpu_seconds']:.2f} CPU-s "
                    f"(kernel {row['kernel_cpu_seconds']:.2f}; {row['seconds']:.2f} s wall), "
                    f"command {row['command_cpu']:.2f} CPU-s",
                    flush=True,
                )
        if len(set(digests.values())) > 1:
            sys.exit("bench: the variants wrote different files")
        print()
        print(
            f"| {args.specs:,} specs cold, CPU-s min / median / max | compile | "
            "of which kernel | command | compile wall s (median) | goal compile <= 3.0 |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for name, got in rows.items():
            cpu = [r["cpu_seconds"] for r in got]
            kernel = [r["kernel_cpu_seconds"] for r in got]
            wall = statistics.median(r["seconds"] for r in got)
            met = "yes" if statistics.median(cpu) <= GOAL else "**no**"
            print(
                f"| {name} | {spread(cpu)} | {spread(kernel)} | "
                f"{spread([r['command_cpu'] for r in got])} | {wall:.2f} | {met} |"
            )
        print(
            f"\nload average after {os.getloadavg()[0]:.1f}; "
            f"{'outputs identical' if len(digests) > 1 else ''}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
