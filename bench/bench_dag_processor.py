"""A real `airflow dag-processor` over N generated entity DAGs (default 1,000), for docs/scale.md.

    .venv/bin/python bench/bench_dag_processor.py [N] [PARSING_PROCESSES]

Compiles N self-contained entity specs (bench/fixtures.py: 18 tasks each), migrates a throwaway
PostgreSQL metadata database (scripts/pg-up.sh), starts the dag-processor alone and measures:
the first full pass (until N serialized DAGs are in the database), the per-file parse time the
processor itself reports, its CPU use in the steady state (every file is re-parsed every
min_file_process_interval, changed or not), and the database rows and bytes the DAGs occupy.
Prints one JSON document; the processor and PostgreSQL are stopped whatever happens.
"""

from __future__ import annotations

import json
import os
import re
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
    with engine.connect() as conn:
        value = conn.execute(sa.text(sql)).scalar()
    engine.dispose()
    return float(value or 0)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    processes = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    base = Path(tempfile.mkdtemp(prefix="dagspec-scale-"))
    base.chmod(0o755)
    pg_dir = base / "pg"
    proc = None
    try:
        project = base / "project"
        fixtures.write_project(project, count)
        from compiler import api

        started = time.perf_counter()
        assert api.compile_project(project).ok
        compile_s = time.perf_counter() - started
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
        home = base / "airflow-home"
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(project / "generated_dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": str(processes),
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "20",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "DO_NOT_TRACK": "1",
            "PYTHONPATH": str(ROOT / "plugins"),
        }
        airflow = str(Path(sys.executable).parent / "airflow")
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        log_path = base / "dag-processor.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [airflow, "dag-processor"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = time.perf_counter()
        cpu_start = cpu_seconds(proc.pid)
        samples = []
        while True:
            parsed = scalar(url, "SELECT count(*) FROM serialized_dag")
            samples.append((time.perf_counter() - started, parsed))
            if parsed >= count:
                break
            if proc.poll() is not None or time.perf_counter() - started > 3600:
                raise SystemExit(f"dag-processor stopped early; see {log_path}")
            time.sleep(1)
        first_pass = time.perf_counter() - started
        first_cpu = cpu_seconds(proc.pid) - cpu_start
        # Steady state: nothing changes, yet files are re-parsed every min_file_process_interval.
        window = 120.0
        cpu_a = cpu_seconds(proc.pid)
        time.sleep(window)
        steady_cpu = (cpu_seconds(proc.pid) - cpu_a) / window
        text = log_path.read_text(errors="replace")
        # The stats table rows: path  pid  current  #dags  #errors  last duration  last run
        durations = [
            float(m)
            for m in re.findall(
                r"entity-\d+\.py\s+(?:\d+\s+)?(?:[\d.]+s\s+)?1\s+0\s+([\d.]+)s", text
            )
        ]
        result = {
            "dags": count,
            "tasks_per_dag": 18,
            "parsing_processes": processes,
            "cpus": os.cpu_count(),
            "compile_seconds": round(compile_s, 2),
            "first_pass_seconds": round(first_pass, 1),
            "first_pass_cpu_seconds": round(first_cpu, 1),
            "wall_ms_per_file": round(first_pass / count * 1000, 1),
            "reported_parse_ms_median": round(statistics.median(durations) * 1000, 1)
            if durations
            else None,
            "reported_parse_ms_p95": round(sorted(durations)[int(len(durations) * 0.95)] * 1000, 1)
            if durations
            else None,
            "reported_samples": len(durations),
            "steady_state_cpu_cores": round(steady_cpu, 2),
            "serialized_dag_rows": scalar(url, "SELECT count(*) FROM serialized_dag"),
            "serialized_dag_mb": round(
                scalar(url, "SELECT pg_total_relation_size('serialized_dag')") / 1e6, 1
            ),
            "dag_code_mb": round(scalar(url, "SELECT pg_total_relation_size('dag_code')") / 1e6, 1),
            "database_mb": round(
                scalar(url, "SELECT pg_database_size(current_database())") / 1e6, 1
            ),
        }
        print(json.dumps(result, indent=2))
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if pg_dir.exists():
            subprocess.run(
                [str(ROOT / "scripts" / "pg-down.sh"), str(pg_dir)],
                check=False,
                capture_output=True,
            )
        keep = os.environ.get("BENCH_KEEP")
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
