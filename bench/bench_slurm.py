"""How much time does SlurmSubmitOperator add on top of a job's own run time?

Runs N trivial jobs, one DAG run each, through real Airflow (`dag.test()`, which runs the
deferral in-process) on the project's local Slurm, and prints a table of submit → task success
minus the job's own run time. Goal: at most 2 s. Prints only; asserts nothing.

    .venv/bin/python bench/bench_slurm.py [--jobs 5] [--sleep 0.5] [--poll-interval 1.0]

Submit time is the batch script's mtime (written just before sbatch), task success is the task
instance's end date, and the job's run time comes from timestamps the job itself prints.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--sleep", type=float, default=0.5, help="each job's own run time (s)")
    parser.add_argument("--poll-interval", type=float, default=1.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dagspec-bench-slurm-"))
    for sub in ("home", "dags", "plugins", "out"):
        (work / sub).mkdir()
    # Airflow reads these at import time: set them before anything imports it.
    os.environ.update(
        AIRFLOW_HOME=str(work / "home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(work / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(work / "plugins"),  # see tests/runtime/slurm/conftest.py
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        DO_NOT_TRACK="1",
    )
    up = subprocess.run([str(ROOT / "scripts" / "slurm-up.sh")], capture_output=True, text=True)
    if up.returncode != 0:
        print(up.stdout, up.stderr, file=sys.stderr)
        return 1
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
    )

    dag = _load_dag(work, args.sleep, args.poll_interval)
    rows = []
    for index in range(args.jobs):
        rows.append(_one_run(dag, index))
    _print_table(rows, args)
    return 0


def _load_dag(work: Path, sleep: float, poll_interval: float) -> Any:
    path = work / "dags" / "bench_slurm.py"
    command = f"date +%s.%N; sleep {sleep}; date +%s.%N"
    path.write_text(
        "# airflow dag for bench_slurm\n"
        "import datetime\n"
        "from airflow.sdk import DAG\n"
        "from dagspec_runtime.slurm import SlurmSubmitOperator\n"
        "with DAG(dag_id='bench_slurm', schedule=None, catchup=False,\n"
        "         start_date=datetime.datetime(2025, 1, 1)) as dag:\n"
        "    SlurmSubmitOperator(task_id='step', job_name='bench-slurm',\n"
        f"        command={command!r},\n"
        "        resources={'cpu': 1, 'memory_gb': 0.25, 'time_hours': 0.05},\n"
        f"        output_dir={str(work / 'out')!r}, poll_interval={poll_interval!r})\n"
    )
    spec = importlib.util.spec_from_file_location("bench_slurm_dag", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _one_run(dag: Any, index: int) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    started = time.monotonic()
    dag_run = dag.test()
    wall = time.monotonic() - started
    with create_session() as session:
        (ti,) = dag_run.get_task_instances(session=session)
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, key="return_value")
            .one()
        )
        result = XComModel.deserialize_value(row)
        ended = ti.end_date.timestamp()
        state = str(ti.state)
    output = Path(result["output_path"])
    script = Path(result["execution_command"].split()[-1])
    stamps = [float(line) for line in output.read_text().split()]
    job_s = stamps[-1] - stamps[0]
    total = ended - script.stat().st_mtime
    return {
        "run": index + 1,
        "job": result["hpc_job_id"],
        "state": state,
        "job_s": job_s,
        "total_s": total,
        "overhead_s": total - job_s,
        "dag_test_s": wall,
    }


def _print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nSlurmSubmitOperator overhead: {args.jobs} jobs, sleep {args.sleep} s, "
        f"poll_interval {args.poll_interval} s (goal: overhead <= 2 s)\n"
    )
    print(
        f"{'run':>3} {'job':>6} {'state':>8} {'job run s':>9} {'submit->success s':>17} "
        f"{'overhead s':>10} {'dag.test s':>10}"
    )
    for r in rows:
        print(
            f"{r['run']:>3} {r['job']:>6} {r['state']:>8} {r['job_s']:>9.2f} {r['total_s']:>17.2f} "
            f"{r['overhead_s']:>10.2f} {r['dag_test_s']:>10.2f}"
        )
    overheads = [r["overhead_s"] for r in rows]
    print(
        f"\noverhead median {statistics.median(overheads):.2f} s, max {max(overheads):.2f} s "
        "(first dag.test() in a process also pays ~5 s of Airflow start-up, not counted here)"
    )


if __name__ == "__main__":
    sys.exit(main())
