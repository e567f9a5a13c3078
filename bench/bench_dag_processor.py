"""A real `airflow dag-processor` over generated entity DAGs: one file per DAG vs packed files.

    .venv/bin/python bench/bench_dag_processor.py [--dags 1000] [--repeats 3] [--pack 50]
        [--layouts one-per-file,packed] [--processes 2] [--steady 0]

Compiles N self-contained entity specs (bench/fixtures.py: 18 tasks each) twice, once per layout
(one file per DAG; `output: {pack: P}`), migrates one throwaway PostgreSQL metadata database
(scripts/pg-up.sh), then runs the dag-processor alone once per layout and repetition,
interleaved (one-per-file, packed, one-per-file, ...), the DAG tables emptied before each run.
A run's figure is the CPU time (user + system) of the processor's whole process tree from its
start until N serialized DAGs are in the database; its wall time is reported beside it, but on
a shared machine only the CPU time means much. `--steady S` also measures the CPU the processor
uses over S seconds after the last run's first pass (files re-parsed, nothing changed).

Prints one JSON line per run as it ends, then one JSON summary (per layout: CPU-s per DAG
min/median/max, full-pass CPU and wall; the packed / one-per-file ratio with its spread). The
processor and PostgreSQL are stopped whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import fixtures  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
LAYOUTS = ("one-per-file", "packed")


def cpu_seconds(pid: int) -> float:
    """utime+stime of ``pid`` and all its descendants (children reaped so far included)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        ppid, pgid = int(fields[1]), int(fields[2])
        if int(entry.name) == pid or pgid == pid or ppid == pid:
            total += sum(int(f) for f in fields[11:15]) / TICK
    return total


def scalar(url: str, sql: str) -> float:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        value = conn.execute(sa.text(sql)).scalar()
    engine.dispose()
    return float(value or 0)


def empty_dag_tables(url: str) -> None:
    """Forget every DAG (and all that hangs off it) so the next processor starts cold."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE dag, dag_code, import_error CASCADE"))
    engine.dispose()


def compile_layout(base: Path, count: int, layout: str, pack: int) -> tuple[Path, float, int]:
    """The project's output folder, the compile's CPU seconds and the number of files.

    The compile skips its Airflow import check (``DAGSPEC_AIRFLOW_CHECK=0``): that check is a
    DagBag import of every file, the very work the processor is measured doing next.
    """
    project = base / layout
    fixtures.write_project(project, count)
    if layout == "packed":
        config = project / "dagspec.yaml"
        text = config.read_text().replace("spec:\n", f"spec:\n  output: {{pack: {pack}}}\n", 1)
        config.write_text(text)
    before = os.times()
    child = subprocess.run(
        [sys.executable, "-m", "dagspec", "compile"],
        cwd=project,
        env={**os.environ, "DAGSPEC_CACHE": "0", "DAGSPEC_AIRFLOW_CHECK": "0"},
        capture_output=True,
        text=True,
    )
    if child.returncode != 0:
        raise SystemExit(f"compile failed:\n{child.stdout}\n{child.stderr}")
    after = os.times()
    cpu = (after.children_user + after.children_system) - (
        before.children_user + before.children_system
    )
    out = project / "generated_dags"
    return out, cpu, len(list(out.glob("*.py")))


def one_pass(env: dict[str, str], url: str, folder: Path, count: int, log: Path) -> dict:
    """Start a dag-processor on `folder`; CPU and wall until `count` DAGs are serialized."""
    airflow = str(Path(sys.executable).parent / "airflow")
    empty_dag_tables(url)
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [airflow, "dag-processor"],
            env={**env, "AIRFLOW__CORE__DAGS_FOLDER": str(folder)},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = time.perf_counter()
        while True:
            parsed = scalar(url, "SELECT count(*) FROM serialized_dag")
            if parsed >= count:
                break
            if proc.poll() is not None or time.perf_counter() - started > 7200:
                raise SystemExit(f"dag-processor stopped early; see {log}")
            time.sleep(1)
        wall = time.perf_counter() - started
        cpu = cpu_seconds(proc.pid)
        result = {"first_pass_wall_s": round(wall, 1), "first_pass_cpu_s": round(cpu, 1)}
        if float(env.get("BENCH_STEADY_SECONDS") or 0) > 0:
            window = float(env["BENCH_STEADY_SECONDS"])
            time.sleep(window)
            result["steady_state_cores"] = round((cpu_seconds(proc.pid) - cpu) / window, 3)
        return result
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 4),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pack", type=int, default=50)
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steady", type=float, default=0.0)
    args = parser.parse_args()
    layouts = [name for name in args.layouts.split(",") if name]
    if not set(layouts) <= set(LAYOUTS):
        parser.error(f"--layouts: choose from {', '.join(LAYOUTS)}")
    base = Path(tempfile.mkdtemp(prefix="dagspec-scale-"))
    base.chmod(0o755)
    pg_dir = base / "pg"
    try:
        folders, compiled = {}, {}
        for layout in layouts:
            folder, cpu, files = compile_layout(base, args.dags, layout, args.pack)
            folders[layout] = folder
            compiled[layout] = {"files": files, "compile_cpu_s": round(cpu, 1)}
        url = (
            subprocess.run(
                [str(ROOT / "scripts" / "pg-up.sh"), str(pg_dir)],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(base / "airflow-home"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": str(args.processes),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "DO_NOT_TRACK": "1",
            "PYTHONPATH": str(ROOT / "plugins"),
        }
        airflow = str(Path(sys.executable).parent / "airflow")
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        runs: dict[str, list[dict]] = {layout: [] for layout in layouts}
        for repeat in range(args.repeats):
            for layout in layouts:
                last = repeat == args.repeats - 1 and layout == layouts[-1]
                run_env = {**env, "BENCH_STEADY_SECONDS": str(args.steady) if last else ""}
                log = base / f"dag-processor-{layout}-{repeat}.log"
                result = one_pass(run_env, url, folders[layout], args.dags, log)
                result["cpu_s_per_dag"] = round(result["first_pass_cpu_s"] / args.dags, 4)
                runs[layout].append(result)
                line = {"layout": layout, "repeat": repeat, "load": os.getloadavg()[0], **result}
                print(json.dumps(line), flush=True)
        summary: dict = {
            "dags": args.dags,
            "tasks_per_dag": 18,
            "pack": args.pack,
            "parsing_processes": args.processes,
            "cpus": os.cpu_count(),
            "repeats": args.repeats,
            "load_at_end": round(os.getloadavg()[0], 1),
        }
        for layout in layouts:
            done = runs[layout]
            summary[layout] = {
                **compiled[layout],
                "cpu_s_per_dag": spread([r["cpu_s_per_dag"] for r in done]),
                "first_pass_cpu_s": spread([r["first_pass_cpu_s"] for r in done]),
                "first_pass_wall_s": spread([r["first_pass_wall_s"] for r in done]),
                # every parsing process on its own idle core: the pass takes CPU / processes
                "idle_wall_s_estimate": round(
                    statistics.median(r["first_pass_cpu_s"] for r in done) / args.processes, 1
                ),
            }
            steady = [r["steady_state_cores"] for r in done if "steady_state_cores" in r]
            if steady:
                summary[layout]["steady_state_cores"] = steady[0]
        if len(layouts) == 2:
            ratios = [
                a["first_pass_cpu_s"] / b["first_pass_cpu_s"]
                for a, b in zip(runs["one-per-file"], runs["packed"], strict=True)
            ]
            summary["one_per_file_over_packed"] = spread(ratios)
        summary["serialized_dag_mb"] = round(
            scalar(url, "SELECT pg_total_relation_size('serialized_dag')") / 1e6, 1
        )
        print(json.dumps(summary, indent=2), flush=True)
        return 0
    finally:
        if pg_dir.exists():
            subprocess.run(
                [str(ROOT / "scripts" / "pg-down.sh"), str(pg_dir)],
                check=False,
                capture_output=True,
            )
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
