"""Incremental compile and lint at 1,000 and 10,000 specs, against the cold compile of the same
project, every number from this one run.

Each measurement is a fresh interpreter of the project venv (bench/compile_child.py): CPU time
is user + system of the compile and of the worker processes it waited for, the compiler's
import excluded (as in every compile row of `make bench`); wall time is shown beside it but on a
shared machine it mostly measures the neighbours. Steps per size:
cold compile (no `.dagspec/`, no output), then alternately edit one spec's description and
recompile (the CLI's compile), `compile --check` of the unchanged project, and `dagspec lint
FILE` of one freshly edited file (which analyses the whole project for its cross-file checks).
Also: 1,000 self-contained 125-line specs cold, and the cold compile without the cache.

Run alone: `.venv/bin/python bench/bench_incremental.py` (BENCH_INC_SIZES="1000,10000",
BENCH_INC_REPS=5). `make bench` runs it after the other sections. It rewrites only its own
section of bench/results.md.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fixtures

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
RESULTS = BENCH / "results.md"
BEGIN, END = "<!-- incremental: begin -->", "<!-- incremental: end -->"
STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[bench-inc {time.perf_counter() - STARTED:6.1f}s] {message}", flush=True)


def child(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    cmd = [sys.executable, str(BENCH / "compile_child.py"), *args]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=1800, env={**os.environ, **(env or {})}
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.exit(
            f"bench: {' '.join(cmd)} failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def spread(rows: list[dict[str, Any]]) -> dict[str, Any]:
    cpu = [r["cpu_seconds"] for r in rows]
    wall = [r["seconds"] for r in rows]
    return {
        "cpu": statistics.median(cpu),
        "cpu_min": min(cpu),
        "cpu_max": max(cpu),
        "wall": statistics.median(wall),
        "runs": len(rows),
        "cpu_runs": cpu,
    }


def loadavg() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def cold(root: Path, reps: int, *, cache: bool = True) -> dict[str, Any]:
    rows = []
    for _ in range(reps):
        shutil.rmtree(root / "generated_dags", ignore_errors=True)
        shutil.rmtree(root / ".dagspec", ignore_errors=True)
        row = child(str(root), "compile", env={} if cache else {"DAGSPEC_CACHE": "0"})
        if not row["ok"] or row["written"] != len(list((root / "specs").glob("*.yaml"))):
            sys.exit(f"bench: cold compile of {root} did not write every DAG: {row}")
        rows.append(row)
    return spread(rows)


def edit(root: Path, n: int, i: int) -> Path:
    """Change one spec's description (a different spec each time, so no entry is reused)."""
    path = root / "specs" / f"{fixtures.entity_name((i * 7919) % n)}.yaml"
    text = path.read_text()
    path.write_text(
        text.replace(
            "description: Benchmark pipeline", f"description: Edit {i} of the benchmark pipeline", 1
        )
    )
    return path


def measure(n: int, reps: int) -> dict[str, Any]:
    root = OUT / f"incremental-{n}"
    shutil.rmtree(root, ignore_errors=True)
    fixtures.write_project(root, n)
    out: dict[str, Any] = {"specs": n}
    out["cold"] = cold(root, 3 if n <= 1000 else 1)
    progress(f"{n:,} specs cold: {out['cold']['cpu']:.2f}s CPU ({out['cold']['wall']:.1f}s wall)")
    child(str(root), "compile")  # settle: the first compile after cold records fingerprints
    edits, checks, lints = [], [], []
    for rep in range(reps):
        edit(root, n, rep)
        row = child(str(root), "compile")
        if row["written"] != 1 or not row["ok"]:
            sys.exit(f"bench: editing one spec rewrote {row['written']} files: {row}")
        edits.append(row)
        row = child(str(root), "check")
        if row["stale"] or not row["ok"] or row["unchanged"] != n:
            sys.exit(f"bench: --check of an unchanged project was not clean: {row}")
        checks.append(row)
        changed = edit(root, n, reps + rep)
        row = child(str(root), "lint", str(changed))
        if not row["ok"]:
            sys.exit(f"bench: lint of {changed} found problems: {row['findings']}")
        lints.append(row)
        child(str(root), "compile")  # compile the linted edit, so the next edit is one spec
        progress(
            f"{n:,} specs rep {rep + 1}/{reps}: edit-one {edits[-1]['cpu_seconds']:.2f}s, "
            f"--check {checks[-1]['cpu_seconds']:.2f}s, lint FILE "
            f"{lints[-1]['cpu_seconds']:.2f}s CPU"
        )
    out["edit"], out["check"], out["lint"] = spread(edits), spread(checks), spread(lints)
    out["edit_maxrss_mib"] = max(r["maxrss_mib"] for r in edits)
    return out


def fmt(row: dict[str, Any]) -> str:
    return (
        f"{row['cpu']:.2f} s ({row['cpu_min']:.2f}–{row['cpu_max']:.2f}, n={row['runs']}; "
        f"wall {row['wall']:.1f} s)"
    )


def verdict(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def table(results: dict[str, Any]) -> list[str]:
    rows = [("measurement (CPU, median (min–max))", "value", "goal", "met")]
    sizes = results["sizes"]
    for key, r in sizes.items():
        n = int(key)
        goal = n == 10000
        rows.append((f"{n:,} specs: cold compile", fmt(r["cold"]), "", ""))
        for label, part in (
            ("recompile after editing one spec", "edit"),
            ("`compile --check`, unchanged", "check"),
            ("`dagspec lint FILE`, one changed file", "lint"),
        ):
            value = r[part]
            rows.append(
                (
                    f"{n:,} specs: {label}",
                    fmt(value),
                    "<= 1.0 s" if goal else "",
                    verdict(value["cpu"] <= 1.0) if goal else "",
                )
            )
            rows.append(
                (f"{n:,} specs: {label} / cold", f"{value['cpu'] / r['cold']['cpu']:.3f}x", "", "")
            )
    if "1000" in sizes and "10000" in sizes:
        ratio = sizes["10000"]["cold"]["cpu"] / sizes["1000"]["cold"]["cpu"]
        rows.append(
            ("cold compile 10,000 / 1,000", f"{ratio:.2f}x", "<= 10x", verdict(ratio <= 10))
        )
    rich = results.get("rich")
    if rich:
        rows.append(
            (
                "1,000 self-contained 125-line specs: cold compile",
                fmt(rich),
                "<= 3.0 s",
                verdict(rich["cpu"] <= 3.0),
            )
        )
    nocache = results.get("nocache")
    if nocache and "1000" in sizes:
        rows.append(
            ("1,000 specs: cold compile without the cache (DAGSPEC_CACHE=0)", fmt(nocache), "", "")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def write_section(results: dict[str, Any], lines: list[str]) -> None:
    section = [
        BEGIN,
        "## Incremental compile and lint",
        "",
        f"Measured {results['date']} by `bench/bench_incremental.py` on {os.cpu_count()} cores, "
        f"load average {results['load_before']} before and {results['load_after']} after (the "
        "machine was shared: wall times are not comparable, CPU times are). Self-contained "
        "Entity specs (64 lines; the 125-line form where said); one fresh interpreter per "
        "measurement, compiler import excluded; CPU = user + system including worker processes.",
        "",
        *lines,
        END,
    ]
    text = RESULTS.read_text() if RESULTS.is_file() else "# dagspec benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + "\n".join(section) + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(section) + "\n"
    RESULTS.write_text(text)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in os.environ.get("BENCH_INC_SIZES", "1000,10000").split(",")]
    reps = int(os.environ.get("BENCH_INC_REPS", "5"))
    results: dict[str, Any] = {"load_before": loadavg(), "sizes": {}}
    for n in sizes:
        results["sizes"][str(n)] = measure(n, reps)
    if 1000 in sizes:
        rich = OUT / "incremental-rich-1000"
        shutil.rmtree(rich, ignore_errors=True)
        fixtures.write_project(rich, 1000, rich=True)
        results["rich"] = cold(rich, 3)
        progress(f"1,000 125-line specs cold: {results['rich']['cpu']:.2f}s CPU")
        results["nocache"] = cold(OUT / "incremental-1000", 3, cache=False)
        progress(f"1,000 specs cold without cache: {results['nocache']['cpu']:.2f}s CPU")
    results["load_after"] = loadavg()
    results["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = table(results)
    print("\n".join(lines), flush=True)
    (OUT / "incremental.json").write_text(json.dumps(results, indent=2))
    write_section(results, lines)
    progress("wrote the incremental section of bench/results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
