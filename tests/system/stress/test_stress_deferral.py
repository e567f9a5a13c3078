"""Stress: many quick Slurm steps through a real scheduler + triggerer, no completion lost.

`make stress` (not part of `make test`). A ReductionPipeline with DAGSPEC_STRESS_SUBGROUPS
(default 20) sub-groups x 2 steps (+ the grid step over all of them), every job sleeping 0-2 s,
run DAGSPEC_STRESS_RUNS (default 3) times on a stack started with scripts/airflow-up.sh and the
project's Slurm. `baseline` defers at once (wait_in_worker_s=0): each of its jobs ends moments
after the task deferred, the case in which Airflow 3.3's scheduler took the deferring worker's
exit for a crash of the resumed try. `calibrate` and `grid` use the defaults (finish in the
worker when the job ends within seconds).

Every step task must succeed on its first try, the scheduler must log no state mismatch, and
Slurm must hold exactly one job per step x sub-group pair (no duplicate submission).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_rest import SCRIPTS, Api, free_port, stack_module
from airflow_rest import stack_logs as _stack_logs
from e2e.conftest import Stack
from reduction.dag_source import reduction_dag

ROOT = Path(__file__).resolve().parents[3]
RAW = ROOT / "examples" / "reduction" / "raw" / "ngc253_co43_scan1"
SUBGROUPS = int(os.environ.get("DAGSPEC_STRESS_SUBGROUPS", "20"))
RUNS = int(os.environ.get("DAGSPEC_STRESS_RUNS", "3"))
STEP_TASKS = ("per_scan.calibrate", "per_scan.baseline", "all_data.grid")
JITTER = "sleep $((RANDOM % 2)).$((RANDOM % 10)) && "  # 0.0-1.9 s before the real program

pytestmark = [pytest.mark.e2e, pytest.mark.slurm]


def _catalogue(folder: Path) -> Path:
    """SUBGROUPS scans of one source: copies of an example package with their own scan name."""
    for index in range(SUBGROUPS):
        target = folder / f"ngc253_co43_s{index:02d}"
        shutil.copytree(RAW, target)
        meta = json.loads((target / "package.json").read_text())
        meta["executed_obs_unit"] = f"s{index:02d}"
        (target / "package.json").write_text(json.dumps(meta))
        for path in target.iterdir():
            os.utime(path, (1.7e9, 1.7e9))  # old: no cooldown
    return folder


def _dag_source(dag_id: str, home: Path) -> str:
    from reduction.dag_source import STEPS

    overrides = {
        name: {
            "config": {
                **STEPS[name]["config"],
                "command_template": JITTER + STEPS[name]["config"]["command_template"],
            },
            "max_concurrent_runs": 2,
        }
        for name in ("calibrate", "baseline", "grid")
    }
    source = reduction_dag(
        dag_id,
        project_root=str(ROOT),
        catalogue=str(home / "raw"),
        meta_sqlite_path=str(home / f"{dag_id}.sqlite"),
        products_root=str(home / "products"),
        step_overrides=overrides,
    )
    marker = 'task_id="baseline",\n'
    assert source.count(marker) == 1
    return source.replace(marker, marker + "            wait_in_worker_s=0,\n")


@pytest.fixture(scope="module")
def stress_stack(tmp_path_factory: pytest.TempPathFactory, slurm_up: object) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("stress-home")
    (home / "dags").mkdir()
    _catalogue(home / "raw")
    for run in range(RUNS):
        dag_id = f"stress_{run}"
        (home / "dags" / f"{dag_id}.py").write_text(_dag_source(dag_id, home))
    port = free_port()
    env = {
        **os.environ,
        "DAGSPEC_AIRFLOW_HOME": str(home),
        "DAGSPEC_AIRFLOW_PORT": str(port),
        "DAGSPEC_AIRFLOW_DAGS_FOLDER": str(home / "dags"),
    }
    stack = Stack(url=f"http://127.0.0.1:{port}", home=home, env=env, record={}, password="")
    done = subprocess.run(
        ["bash", str(SCRIPTS / "airflow-up.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    record = home / stack_module.PID_FILE_NAME
    if record.exists():
        stack.record = json.loads(record.read_text())
    try:
        if done.returncode != 0:
            pytest.fail(f"airflow-up.sh failed\n{done.stdout}\n{done.stderr}\n{_stack_logs(home)}")
        stack.password = stack_module.admin_password(home) or ""
        yield stack
    finally:
        stack.stop()


def _jobs_of(prefix: str) -> list[tuple[str, str]]:
    done = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%k"], capture_output=True, text=True, check=True
    )
    rows = [tuple(line.split("|", 1)) for line in done.stdout.splitlines()]
    return [(job, comment) for job, comment in rows if comment.startswith(prefix)]


def _wait_parsed(api: Api, dag_ids: set[str]) -> None:
    import time

    deadline = time.monotonic() + 300
    while True:
        dags = {d["dag_id"] for d in api.get("/api/v2/dags?limit=100")["dags"]}
        if dag_ids <= dags:
            return
        errors = api.get("/api/v2/importErrors")
        assert errors["total_entries"] == 0, errors
        assert time.monotonic() < deadline, f"not parsed: {dag_ids - dags}"
        time.sleep(2)


def test_quick_jobs_are_each_counted_once_on_the_first_try(stress_stack: Stack) -> None:
    api = Api(stress_stack.url, stress_stack.password)
    dag_ids = [f"stress_{run}" for run in range(RUNS)]
    _wait_parsed(api, set(dag_ids))
    report = []
    for dag_id in dag_ids:
        status, run = api.call(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {}}
        )
        assert status == 200, run
        run_id = run["dag_run_id"]
        final = api.wait_for_run(dag_id, run_id, timeout=1800)
        quoted = urllib.parse.quote(run_id, safe="")
        tis = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances?limit=100")
        steps = [ti for ti in tis["task_instances"] if ti["task_id"] in STEP_TASKS]
        assert final["state"] == "success", {
            (t["task_id"], t["map_index"]): t["state"] for t in steps if t["state"] != "success"
        }
        assert len(steps) == 2 * SUBGROUPS + 1
        retried = [
            (t["task_id"], t["map_index"], t["try_number"])
            for t in steps
            if t["try_number"] != 1 or t["state"] != "success"
        ]
        assert not retried, f"{dag_id}: not first-try successes: {retried}"
        jobs = _jobs_of(f"dagspec:{dag_id}/{run_id}/")
        pairs = {comment.rsplit("/", 1)[0] for _, comment in jobs}
        assert len(jobs) == len(pairs) == len(steps), (len(jobs), len(pairs), len(steps))
        report.append(f"{dag_id}: {len(steps)} step tasks, {len(jobs)} Slurm jobs, all try 1")
    scheduler_log = "\n".join(
        p.read_text(errors="replace") for p in (stress_stack.home / "logs" / "stack").glob("*.log")
    )
    assert "state mismatch" not in scheduler_log
    assert "finished with state success, but the task instance's state" not in scheduler_log
    print("\n".join(report))
