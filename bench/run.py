"""`make bench`: dagspec against the alternatives, every number measured in this one run.

1. DagBag parse time (Airflow 3.3.2) of N equivalent pipelines, written four ways: dagspec
   output, hand-written files that build exactly those DAGs with dagspec's operators (checked
   first by same_dag_child.py), hand-written static files with BashOperator, dag-factory
   building BashOperator DAGs from one YAML file at parse time. Every measurement runs in a
   fresh interpreter (import airflow, ~2.5 s, is not timed); variants are interleaved so
   machine noise hits them alike; median of the reps.
   All four run in one bench venv (bench/out/venv: Airflow 3.3.2 with the project's constraints,
   dag-factory, matplotlib for the chart), so the interpreter and packages are identical.
2. Compile throughput of 1,000 and 10,000 specs (cold), and the no-op recompile with the
   incremental cache, each in a fresh interpreter of the project venv; peak RSS from getrusage.
   (bench/bench_incremental.py, run next by `make bench`, measures edits, --check and lint.)

Writes bench/results.md and bench/results.png. Knobs: BENCH_REPS (parse reps, default 5),
BENCH_SIZES (default "50,500"), BENCH_SKIP_10K=1.
"""

from __future__ import annotations

import json
import os
import platform
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
ROOT = BENCH.parent
OUT = BENCH / "out"
VENV = OUT / "venv"
VENV_PY = VENV / "bin" / "python"
REQUIREMENTS = ["apache-airflow==3.3.2", "dag-factory==1.1.0", "matplotlib==3.11.2"]
VARIANTS = ("handwritten", "same_operators", "dagspec", "dagfactory")
STARTED = time.perf_counter()
#: results.md from here on belongs to the other benches (bench_incremental.py's section, notes)
KEEP = "<!-- incremental: begin -->"


def progress(message: str) -> None:
    print(f"[bench {time.perf_counter() - STARTED:6.1f}s] {message}", flush=True)


def ensure_venv() -> None:
    """The bench venv is built once; a marker records what it was built with."""
    marker = VENV / ".bench-installed"
    wanted = "\n".join(REQUIREMENTS)
    if marker.is_file() and marker.read_text() == wanted and VENV_PY.exists():
        progress(f"bench venv ready ({', '.join(REQUIREMENTS)})")
        return
    progress("creating the bench venv (Airflow 3.3.2 + dag-factory + matplotlib, ~2 min)")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
    log = OUT / "venv-install.log"
    with log.open("w") as handle:
        done = subprocess.run(
            [
                str(VENV_PY),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-c",
                str(ROOT / "constraints.txt"),
                *REQUIREMENTS,
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "DO_NOT_TRACK": "1"},
        )
    if done.returncode != 0:
        sys.exit(f"bench: pip install failed, see {log}")
    marker.write_text(wanted)


def airflow_env(folder: Path) -> dict[str, str]:
    home = OUT / "airflow-home"
    (OUT / "no-plugins").mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(OUT / "no-plugins"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # dag-factory's 500 DAGs take 12 s of CPU; on a busy machine that passed the default
        # 30 s import timeout in wall time, and the bench measured a failure instead
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",
        "AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        # the generated files import dagspec_runtime, as Airflow's plugins folder would allow
        "PYTHONPATH": str(ROOT / "plugins"),
    }


def child(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.exit(
            f"bench: {' '.join(cmd)} failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def compile_project(root: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from compiler import api

    result = api.compile_project(root)
    if not result.ok:
        sys.exit(f"bench: the generated project does not compile: {result.findings[:3]}")


def same_dags(generated: Path, handwritten: Path) -> None:
    """Stop unless the hand-written files with dagspec's operators build exactly the generated
    DAGs (serialized form and every task attribute), so their ratio compares only the files."""
    row = child(
        [str(VENV_PY), str(BENCH / "same_dag_child.py"), str(generated), str(handwritten)],
        airflow_env(generated),
    )
    progress(f"same DAGs: {row['dags']} generated = hand-written with dagspec's operators")


def parse_bench(sizes: list[int], reps: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for n in sizes:
        base = OUT / f"parse-{n}"
        shutil.rmtree(base, ignore_errors=True)
        fixtures.write_project(base / "project", n)
        compile_project(base / "project")
        fixtures.write_handwritten(base / "handwritten", n)
        fixtures.write_handwritten_same(base / "same-operators", n)
        fixtures.write_dagfactory(base / "dagfactory", n)
        folders = {
            "handwritten": base / "handwritten",
            "same_operators": base / "same-operators",
            "dagspec": base / "project" / "generated_dags",
            "dagfactory": base / "dagfactory",
        }
        same_dags(folders["dagspec"], folders["same_operators"])
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
        tasks: dict[str, int] = {}
        for rep in range(reps + 1):  # rep 0 warms the page cache and writes __pycache__
            for variant in VARIANTS:
                cmd = [str(VENV_PY), str(BENCH / "parse_child.py"), str(folders[variant]), str(n)]
                row = child(cmd, airflow_env(folders[variant]))
                tasks[variant] = row["tasks"]
                if rep:
                    times[variant].append(row["cpu_seconds"])
                    walls[variant].append(row["seconds"])
            label = "warm-up" if rep == 0 else f"rep {rep}/{reps}"
            shown = "  ".join(f"{v} {times[v][-1]:.3f}s CPU" for v in VARIANTS if rep)
            progress(f"parse N={n} {label} {shown}")
        if len(set(tasks.values())) != 1:
            sys.exit(f"bench: the variants do not have the same number of tasks: {tasks}")
        results[str(n)] = {
            v: {
                "median": statistics.median(times[v]),
                "runs": times[v],
                "tasks": tasks[v],
                "wall_runs": walls[v],
            }
            for v in VARIANTS
        }
    return results


def import_bench(reps: int) -> dict[str, float]:
    """What importing the operators costs a DAG file, in a process that has Airflow loaded."""
    modules = {
        "dagspec_runtime.entity": "dagspec_runtime.entity",
        "BashOperator": "airflow.providers.standard.operators.bash",
    }
    out: dict[str, float] = {}
    for label, module in modules.items():
        runs = [
            child([str(VENV_PY), str(BENCH / "import_child.py"), module], airflow_env(OUT))
            for _ in range(reps)
        ]
        out[label] = statistics.median(r["seconds"] for r in runs)
        progress(
            f"import {module}: {out[label] * 1000:.1f} ms (+{runs[0]['new_modules']} "
            f"modules: {', '.join(runs[0]['top'][:8])})"
        )
    return out


def compile_bench(skip_10k: bool) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    sizes = [1000] if skip_10k else [1000, 10000]
    for n in sizes:
        root = OUT / f"compile-{n}"
        shutil.rmtree(root, ignore_errors=True)
        fixtures.write_project(root, n)
        runs, rss = [], []
        for _rep in range(3 if n == 1000 else 1):
            shutil.rmtree(root / "generated_dags", ignore_errors=True)
            shutil.rmtree(root / ".dagspec", ignore_errors=True)
            row = child([sys.executable, str(BENCH / "compile_child.py"), str(root), "compile"])
            if row["written"] != n:
                sys.exit(f"bench: a cold compile of {n} specs wrote {row['written']} files")
            runs.append(row["cpu_seconds"])
            rss.append(row["maxrss_mib"])
            progress(
                f"compile {n:,} specs cold: {row['cpu_seconds']:.2f}s CPU "
                f"(import {row['import_seconds']:.2f}s, peak RSS {row['maxrss_mib']:.0f} MiB)"
            )
        results[f"{n:,} cold"] = {
            "median": statistics.median(runs),
            "runs": runs,
            "maxrss_mib": max(rss),
            "specs": n,
        }
        noop = []
        for _ in range(3):
            row = child([sys.executable, str(BENCH / "compile_child.py"), str(root), "compile"])
            if row["written"] != 0:
                sys.exit(f"bench: a no-op compile rewrote {row['written']} files")
            noop.append(row["cpu_seconds"])
        progress(f"compile {n:,} specs no-op (cache): {statistics.median(noop):.3f}s")
        results[f"{n:,} no-op"] = {"median": statistics.median(noop), "runs": noop, "specs": n}
        if n == 1000:
            row = child(
                [sys.executable, str(BENCH / "compile_child.py"), str(root), "compile"],
                {**os.environ, "DAGSPEC_CACHE": "0"},
            )
            progress(f"compile {n:,} specs up to date, no cache: {row['cpu_seconds']:.2f}s")
            results[f"{n:,} no cache"] = {
                "median": row["cpu_seconds"],
                "runs": [row["cpu_seconds"]],
                "specs": n,
            }
    return results


def _spread(r: dict[str, Any], top: str, bottom: str) -> str:
    """min–max of the ratio over the interleaved reps (each rep measures both back to back)."""
    ratios = [a / b for a, b in zip(r[top]["runs"], r[bottom]["runs"], strict=True)]
    return f"{min(ratios):.2f}–{max(ratios):.2f}"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def table(parse: dict[str, Any], comp: dict[str, Any], imports: dict[str, float]) -> list[str]:
    rows = [("measurement", "value", "goal", "met")]
    for n, r in parse.items():
        hand, same, gen, dfy = (r[v]["median"] for v in VARIANTS)
        rows.append(
            (
                f"parse N={n}: hand-written Bash / same operators / dagspec / dag-factory (CPU s)",
                f"{hand:.3f} / {same:.3f} / {gen:.3f} / {dfy:.3f}",
                "",
                "",
            )
        )
        ratio = gen / same
        rows.append(
            (
                f"parse N={n}: generated / hand-written with the same operators",
                f"{ratio:.2f}x ({_spread(r, 'dagspec', 'same_operators')})",
                "<= 1.05x",
                verdict(ratio <= 1.05),
            )
        )
        rows.append(
            (
                f"parse N={n}: generated / hand-written with BashOperator",
                f"{gen / hand:.2f}x ({_spread(r, 'dagspec', 'handwritten')})",
                "",
                "",
            )
        )
        goal = 2.8 if n == "50" else None
        ratio = dfy / gen
        spread = _spread(r, "dagfactory", "dagspec")
        if goal is not None:
            rows.append(
                (
                    f"parse N={n}: dag-factory / generated",
                    f"{ratio:.2f}x ({spread})",
                    ">= 2.8x",
                    verdict(ratio >= goal),
                )
            )
        else:
            small = parse.get("50")
            prior = small["dagfactory"]["median"] / small["dagspec"]["median"] if small else 0
            rows.append(
                (
                    f"parse N={n}: dag-factory / generated",
                    f"{ratio:.2f}x ({spread})",
                    f"> N=50 ({prior:.2f}x)",
                    verdict(ratio > prior),
                )
            )
        rows.append(
            (
                f"parse N={n}: dag-factory / hand-written, both BashOperator",
                f"{dfy / hand:.2f}x ({_spread(r, 'dagfactory', 'handwritten')})",
                "",
                "",
            )
        )
    if imports:
        rows.append(
            (
                "import dagspec_runtime.entity vs BashOperator module (ms)",
                f"{imports['dagspec_runtime.entity'] * 1000:.1f} / "
                f"{imports['BashOperator'] * 1000:.1f}",
                "",
                "",
            )
        )
    cold1k = comp.get("1,000 cold")
    if cold1k:
        rows.append(
            (
                "compile 1,000 specs cold (CPU s)",
                f"{cold1k['median']:.2f} ({min(cold1k['runs']):.2f}–{max(cold1k['runs']):.2f})",
                "<= 3.0",
                verdict(cold1k["median"] <= 3.0),
            )
        )
        rows.append(("compile 1,000 peak RSS (MiB)", f"{cold1k['maxrss_mib']:.0f}", "", ""))
    cold10k = comp.get("10,000 cold")
    if cold1k and cold10k:
        ratio = cold10k["median"] / cold1k["median"]
        rows.append(("compile 10,000 specs cold (CPU s)", f"{cold10k['median']:.2f}", "", ""))
        rows.append(
            (
                "compile 10,000 / 1,000 (CPU)",
                f"{ratio:.2f}x ("
                f"{cold10k['median'] / max(cold1k['runs']):.2f}–"
                f"{cold10k['median'] / min(cold1k['runs']):.2f})",
                "<= 10x",
                verdict(ratio <= 10),
            )
        )
        rows.append(("compile 10,000 peak RSS (MiB)", f"{cold10k['maxrss_mib']:.0f}", "", ""))
    noop = comp.get("1,000 no-op")
    if noop:
        rows.append(
            (
                "no-op recompile 1,000 (cache) (CPU s)",
                f"{noop['median']:.3f}",
                "<= 0.5",
                verdict(noop["median"] <= 0.5),
            )
        )
    plain = comp.get("1,000 no cache")
    if plain:
        rows.append(
            ("up-to-date compile 1,000 without cache (CPU s)", f"{plain['median']:.2f}", "", "")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    reps = int(os.environ.get("BENCH_REPS", "5"))
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "50,500").split(",")]
    ensure_venv()
    parse = parse_bench(sizes, reps)
    imports = import_bench(3)
    comp = compile_bench(os.environ.get("BENCH_SKIP_10K") == "1")
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cores = os.cpu_count() or 0
    lines = table(parse, comp, imports)
    print("\n".join(lines), flush=True)
    data = {
        "date": date,
        "cores": cores,
        "cpu": cpu_name(),
        "parse": parse,
        "compile": comp,
        "imports": imports,
        "reps": reps,
    }
    (OUT / "results.json").write_text(json.dumps(data, indent=2))
    header = [
        "# dagspec benchmarks",
        "",
        f"Measured {date} on {cores} cores ({cpu_name()}), Python {platform.python_version()}, "
        f"by `make bench` (`bench/run.py`); every ratio comes from this one run.",
        "",
        f"Parse: Airflow 3.3.2 `DagBag(dag_folder=...)` in a fresh interpreter per measurement "
        f"(import not timed), CPU time (user + system; on the shared machine wall time varied "
        f"by 50–250 %), median of {reps} after one warm-up, variants interleaved, ratio spreads "
        f"(min–max) over the reps; each DAG "
        f"has {fixtures.MODULES * len(fixtures.PHASES) + len(fixtures.PHASES) + 3} tasks "
        f"({len(fixtures.PHASES)} TaskGroups × {fixtures.MODULES} module tasks + a gate each, "
        "workspace, promote, result). Hand-written Bash: BashOperator from "
        "airflow.providers.standard, bare params; same operators: hand-written files (loops, "
        "f-strings) that build exactly the generated DAGs with dagspec's operators, params and "
        "docs (checked before the parse: serialized form and every task attribute); "
        "dag-factory 1.1.0: one YAML file of all N DAGs + a loader, BashOperator. "
        "Compile: `api.compile_project(root)` (the CLI path) in a fresh interpreter, "
        "CPU time including worker processes, compiler import excluded; "
        "self-contained Entity specs (3 phases × 4 modules, no `extends`).",
        "",
        *lines,
        "",
        "![chart](results.png)",
        "",
    ]
    results = BENCH / "results.md"
    kept = results.read_text().split(KEEP, 1)[1] if results.exists() else ""
    results.write_text("\n".join(header) + (f"\n{KEEP}{kept}" if kept else ""))
    progress("wrote bench/results.md")
    chart = subprocess.run(
        [
            str(VENV_PY),
            str(BENCH / "chart.py"),
            str(OUT / "results.json"),
            str(BENCH / "results.png"),
        ],
        capture_output=True,
        text=True,
    )
    if chart.returncode != 0:
        print(f"bench: chart failed:\n{chart.stderr[-2000:]}", file=sys.stderr)
        return 1
    progress("wrote bench/results.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
