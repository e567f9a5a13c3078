"""dagspec on CeleryExecutor with two workers that share no local disk (one stack, in order).

Why: on a cluster each task of a run may land on another machine. These tests prove that the
entity and ETL DAGs find their run state on whichever worker runs them, when dagspec.yaml
declares it on a shared folder or in an object store, and that a worker lacking the storage
fails at once with a clear message. The object store is moto in server mode, an S3-API
*emulator* on 127.0.0.1 (no real S3 server can run here); everything else is real: Redis,
PostgreSQL (Airflow metadata and the meta-log), Airflow 3.3 and Celery workers in their own
mount and UTS namespaces (private /tmp, own hostname).

The reduction pipeline submits real Slurm jobs from both worker hosts (the project's Slurm,
scripts/slurm-up.sh) and the triggerer waits for the longest one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from airflow_rest import quote
from dagspec_runtime.slurm.run_jobs import jobs_of_run, run_prefix
from dagspec_runtime.slurm.try_identity import parse_comment

from .conftest import (
    BUCKET,
    ENTITY,
    ETL,
    HOLD,
    PROBE,
    PROBE_HERE,
    PROBE_QUEUE,
    REDUCTION,
    STORAGE_CONN,
    WORKER_QUEUES,
    CeleryStack,
    Moto,
    stack_module,
)

pytestmark = [pytest.mark.celery, pytest.mark.e2e, pytest.mark.postgres]

RUN_TIMEOUT = 420
WORKERS = {"worker-a", "worker-b"}
EXPECTED_RECORDS = len(
    json.loads(
        (
            Path(__file__).resolve().parents[3] / "examples" / "sources" / f"{ENTITY}.json"
        ).read_text()
    )["records"]
)
TIMES: dict[str, float] = {}


def wait_parsed(stack: CeleryStack, dag_ids: set[str], timeout: float = 240) -> None:
    stack.api.wait_parsed(dag_ids, timeout)


def trigger(stack: CeleryStack, dag_id: str, conf: dict[str, Any] | None = None) -> str:
    return stack.api.trigger(dag_id, conf)


def wait_run(stack: CeleryStack, dag_id: str, run_id: str) -> dict[str, Any]:
    return stack.api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)


def tasks(stack: CeleryStack, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    return stack.api.task_instances(dag_id, run_id)


def hosts(stack: CeleryStack, dag_id: str, run_id: str) -> set[str]:
    return {t["hostname"] for t in tasks(stack, dag_id, run_id) if t["hostname"]}


def next_etl_run(stack: CeleryStack, before: set[str]) -> str:
    """The ETL run the entity's promotion triggered (Asset event), once it exists."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        new = stack.api.run_ids(ETL) - before
        if new:
            assert len(new) == 1, new
            return new.pop()
        time.sleep(2)
    pytest.fail("the promotion did not trigger the ETL run")


def etl_rows(stack: CeleryStack) -> tuple[int, int]:
    engine = sa.create_engine(stack.meta_url)
    with engine.connect() as conn:
        total, distinct = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT waste_record_id) FROM waste_records")
        ).one()
    engine.dispose()
    return int(total), int(distinct)


def run_entity_and_etl(stack: CeleryStack, label: str) -> tuple[str, dict[str, Any], str]:
    """Trigger the entity, wait for it and for the ETL run its promotion triggered."""
    etl_before = stack.api.run_ids(ETL)
    started = time.monotonic()
    run_id = trigger(stack, ENTITY, {"target": "dev"})
    final = wait_run(stack, ENTITY, run_id)
    TIMES[f"{label} entity run"] = time.monotonic() - started
    result = stack.api.xcom(ENTITY, run_id, "pipeline_result")
    assert final["state"] == "success", (final["state"], tasks(stack, ENTITY, run_id), result)
    started = time.monotonic()
    etl_run = next_etl_run(stack, etl_before)
    etl_final = wait_run(stack, ETL, etl_run)
    TIMES[f"{label} ETL run"] = time.monotonic() - started
    assert etl_final["state"] == "success", tasks(stack, ETL, etl_run)
    return run_id, result, etl_run


def check_promoted(stack: CeleryStack, run_id: str, result: dict[str, Any]) -> None:
    """Promoted files and the pipeline result in the project are this run's, not duplicated."""
    root = stack.project.root
    assert result["status"] in ("ok", "warning") and result["promoted"] is True, result
    assert [p["status"] for p in result["phases"]].count("error") == 0
    on_disk = json.loads((root / "models" / ENTITY / "pipeline-result.json").read_text())
    assert on_disk["airflow_run_id"] == run_id  # the run's own id is its UUIDv7
    assert on_disk["run_id"] == result["run_id"]
    assert Path(result["workspace"]).name.endswith(result["run_id"])
    report = stack.api.xcom(ENTITY, run_id, "promote")
    destinations = sorted(row["destination"] for row in report["promoted"])
    assert len(destinations) == 8 and not report["skipped"], report
    for destination in destinations:
        assert (root / destination).is_file(), destination
    records = (root / "landing" / ENTITY / "records.jsonl").read_text().splitlines()
    assert len(records) == EXPECTED_RECORDS
    leftovers = [p for p in root.rglob("*") if p.name.endswith((".promote", ".bak"))]
    assert not leftovers, leftovers


def test_entity_and_etl_span_both_workers_on_shared_storage(celery_stack: CeleryStack) -> None:
    """One entity run's tasks execute on both worker hosts; the workspace lives on the shared
    folder (and is removed after); promoted files, pipeline result and ETL rows are right."""
    stack = celery_stack
    wait_parsed(stack, {ENTITY, ETL})
    run_id, result, etl_run = run_entity_and_etl(stack, "shared storage")
    assert hosts(stack, ENTITY, run_id) == WORKERS, tasks(stack, ENTITY, run_id)
    workspace = Path(result["workspace"])
    assert workspace.parent == stack.project.shared / "workspaces"
    assert not workspace.exists()
    check_promoted(stack, run_id, result)
    assert etl_rows(stack) == (EXPECTED_RECORDS, EXPECTED_RECORDS)
    # The ETL run folder is on the shared storage too, not on a worker's private /tmp.
    assert list((stack.project.shared / "runs" / "waste-records").iterdir())


STEPS = {  # reduction step task -> the worker whose queue its spec names
    "per_executed_obs_unit.calibrate": "worker-a",
    "per_executed_obs_unit.baseline": "worker-a",
    "all_data.grid": "worker-b",
}


@pytest.mark.slurm
def test_reduction_pipeline_submits_from_both_workers_and_the_triggerer_resumes_it(
    celery_stack: CeleryStack, slurm_up: object
) -> None:
    """The reduction pipeline through the REST API: its steps are routed by their compiled
    queues to one worker each and submitted to Slurm from there, the gridding job is waited for
    by the triggerer (the task defers and resumes), one Slurm job per step and sub-group, job
    files on the shared storage, and the map covers both scans. Each worker's task log is
    served by the api-server."""
    stack = celery_stack
    wait_parsed(stack, {REDUCTION})
    started = time.monotonic()
    run_id = trigger(stack, REDUCTION)
    seen: dict[str, set[str]] = {}
    deadline = time.monotonic() + RUN_TIMEOUT
    while (run := stack.api.get(f"/api/v2/dags/{REDUCTION}/dagRuns/{quote(run_id)}"))[
        "state"
    ] not in ("success", "failed"):
        for ti in tasks(stack, REDUCTION, run_id):
            seen.setdefault(ti["task_id"], set()).add(str(ti["state"]))
        assert time.monotonic() < deadline, tasks(stack, REDUCTION, run_id)
        time.sleep(1)
    TIMES["reduction run"] = time.monotonic() - started
    instances = tasks(stack, REDUCTION, run_id)
    assert run["state"] == "success", instances
    steps = [t for t in instances if t["task_id"] in STEPS]
    assert sorted((t["task_id"], t["map_index"]) for t in steps) == [
        ("all_data.grid", 0),
        ("per_executed_obs_unit.baseline", 0),
        ("per_executed_obs_unit.baseline", 1),
        ("per_executed_obs_unit.calibrate", 0),
        ("per_executed_obs_unit.calibrate", 1),
    ]
    for ti in steps:  # the compiled queue sent each step to the one worker listening on it
        worker = STEPS[ti["task_id"]]
        assert (ti["queue"], ti["hostname"], ti["state"], ti["try_number"]) == (
            WORKER_QUEUES[worker],
            worker,
            "success",
            1,
        ), ti
    assert hosts(stack, REDUCTION, run_id) == WORKERS

    # One Slurm job per step and sub-group, found by the run's id in the job comments.
    jobs = jobs_of_run(prefix=run_prefix(REDUCTION, run_id))
    keys = sorted(
        (key.task_id, key.map_index, key.try_number)
        for key, _ in filter(None, (parse_comment(j.comment) for j in jobs))
    )
    assert keys == sorted((t["task_id"], t["map_index"], 1) for t in steps), jobs
    assert {j.state for j in jobs} == {"COMPLETED"}, jobs
    results = {
        (t["task_id"], t["map_index"]): stack.api.xcom(
            REDUCTION, run_id, t["task_id"], map_index=t["map_index"]
        )
        for t in steps
    }
    assert sorted(r["hpc_job_id"] for r in results.values()) == sorted(j.job_id for j in jobs)
    assert not any(r["reused"] for r in results.values())
    # Batch scripts and Slurm output files are on the declared shared storage.
    job_files = stack.project.shared / "slurm-jobs" / REDUCTION
    assert len(list(job_files.rglob("*.sh"))) == len(jobs)
    assert len(list(job_files.rglob("*.out"))) == len(jobs)

    # The gridding task deferred, the triggerer saw its job end, a worker resumed it.
    assert "deferred" in seen["all_data.grid"], seen
    grid = results[("all_data.grid", 0)]
    grid_log = stack.api.task_log(REDUCTION, run_id, "all_data.grid", map_index=0)
    assert f"Slurm job {grid['hpc_job_id']} is COMPLETED" in grid_log  # logged by the trigger
    assert f"Submitted Slurm job {grid['hpc_job_id']}" in grid_log  # by worker-b
    calibrate = results[("per_executed_obs_unit.calibrate", 0)]
    assert f"Submitted Slurm job {calibrate['hpc_job_id']}" in stack.api.task_log(  # by worker-a
        REDUCTION, run_id, "per_executed_obs_unit.calibrate", map_index=0
    )

    # The map: both scans, through calibrate and baseline, recorded in the meta database.
    stats = json.loads((Path(grid["output_dir"]) / "statistics" / "grid.json").read_text())
    assert stats["scans"] == ["scan1", "scan2"] and stats["inputs"] == 2, stats
    assert stats["software_version"] == "0.9.0"
    assert (Path(grid["output_dir"]) / "science" / "cube.csv").stat().st_size > 0
    engine = sa.create_engine(stack.meta_url)
    with engine.connect() as conn:
        recorded = conn.execute(
            sa.text(
                "SELECT step, status, hpc_job_id FROM executed_reduction_step WHERE run_id = :r"
            ),
            {"r": run_id},
        ).all()
    engine.dispose()
    assert sorted(r.hpc_job_id for r in recorded) == sorted(j.job_id for j in jobs)
    assert {r.status for r in recorded} == {"COMPLETED"}


def test_worker_without_the_storage_fails_with_a_clear_message(celery_stack: CeleryStack) -> None:
    """A third worker host that lacks the shared mount fails its tasks at once, naming itself,
    the storage and the fix, instead of working on a missing or empty folder. The compiled
    `queue` setting sends the tasks there: the module of one probe entity, every task of the
    other (the spec-level setting, prepare_workspace included)."""
    stack = celery_stack
    stack.add_worker("worker-c", "--without-storage", "--queues", PROBE_QUEUE)
    wait_parsed(stack, {PROBE, PROBE_HERE})
    runs = {dag_id: trigger(stack, dag_id) for dag_id in (PROBE, PROBE_HERE)}
    states = {}
    for dag_id, run_id in runs.items():
        assert wait_run(stack, dag_id, run_id)["state"] == "failed"
        states[dag_id] = {
            t["task_id"]: (t["state"], t["hostname"], t["queue"])
            for t in tasks(stack, dag_id, run_id)
        }
    prepared = states[PROBE]["prepare_workspace"]
    assert prepared[0] == "success" and prepared[1] in WORKERS, states
    assert states[PROBE]["check.elsewhere"] == ("failed", "worker-c", PROBE_QUEUE), states
    assert states[PROBE_HERE]["prepare_workspace"] == ("failed", "worker-c", PROBE_QUEUE), states
    shared = str(stack.project.shared)
    # worker-c's task logs are on the shared log volume: the api-server serves them.
    module_log = stack.api.task_log(PROBE, runs[PROBE], "check.elsewhere")
    assert "worker 'worker-c' cannot find workspace.json in " + shared in module_log
    prepare_log = stack.api.task_log(PROBE_HERE, runs[PROBE_HERE], "prepare_workspace")
    assert f"worker 'worker-c' cannot see the declared run storage {shared}" in prepare_log
    assert "spec.storage.url" in prepare_log


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_killed_worker_task_is_retried_on_the_other(celery_stack: CeleryStack) -> None:
    """kill -9 of the worker host running a module: Airflow notices the lost heartbeat, retries
    the module on the other worker, the run completes, and nothing is promoted or loaded twice."""
    stack = celery_stack
    hold = stack.project.root / HOLD
    hold.touch()
    etl_before = stack.api.run_ids(ETL)
    started = time.monotonic()
    run_id = trigger(stack, ENTITY, {"target": "dev"})
    task_id = "govern.governance"
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            ti = next(t for t in tasks(stack, ENTITY, run_id) if t["task_id"] == task_id)
            if ti["state"] == "running" and ti["hostname"] in WORKERS:
                break
            assert time.monotonic() < deadline, f"{task_id} never ran: {ti}"
            time.sleep(1)
        victim = ti["hostname"]
        while not any(
            "hold.py" in cmdline(pid) for pid in stack_module.worker_processes(stack.record, victim)
        ):
            assert time.monotonic() < deadline, f"the module never started on {victim}"
            time.sleep(0.5)
        killed = stack_module.kill_worker(stack.record, victim)
        assert stack.worker_pid(victim) in killed, killed
        assert not stack_module.worker_processes(stack.record, victim)
    finally:
        hold.unlink()
    final = wait_run(stack, ENTITY, run_id)
    TIMES["fault run (kill -9 + retry)"] = time.monotonic() - started
    attempts = stack.api.tries(ENTITY, run_id, task_id)
    result = stack.api.xcom(ENTITY, run_id, "pipeline_result")
    assert final["state"] == "success", (attempts, result)
    assert attempts[0]["hostname"] == victim and attempts[0]["state"] == "failed", attempts
    survivor = (WORKERS - {victim}).pop()
    assert attempts[-1]["hostname"] == survivor and attempts[-1]["state"] == "success"
    check_promoted(stack, run_id, result)
    etl_run = next_etl_run(stack, etl_before)
    assert wait_run(stack, ETL, etl_run)["state"] == "success"
    assert etl_rows(stack) == (EXPECTED_RECORDS, EXPECTED_RECORDS)
    stack.add_worker(victim)  # back to two workers for the next test


def test_same_entity_on_object_storage(celery_stack: CeleryStack, moto_s3: Moto) -> None:
    """dagspec.yaml switched to s3://: the same entity DAG keeps its workspace and the ETL its
    run folders in the object store (emulated by moto), across both workers."""
    stack = celery_stack
    url = f"s3://{STORAGE_CONN}@{BUCKET}/state"
    switched = datetime.now(UTC)
    stack.project.set_storage(url)
    stack.project.compile()
    done = subprocess.run(
        [sys.executable, "-m", "dagspec_runtime.storage", "init", url],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Workers run tasks from the DAG file on disk; wait until the dag-processor read it too.
    deadline = time.monotonic() + 180
    for dag_id in (ENTITY, ETL):
        while (
            datetime.fromisoformat(stack.api.get(f"/api/v2/dags/{dag_id}")["last_parsed_time"])
            <= switched
        ):
            assert time.monotonic() < deadline, f"the recompiled {dag_id} was not re-parsed"
            time.sleep(2)
    run_id, result, etl_run = run_entity_and_etl(stack, "object storage")
    assert hosts(stack, ENTITY, run_id) == WORKERS, tasks(stack, ENTITY, run_id)
    assert result["workspace"].startswith(f"{url}/workspaces/"), result["workspace"]
    assert moto_s3.keys("state/workspaces/") == []  # removed after the run
    assert moto_s3.keys("state/runs/waste-records/"), "ETL run folder not in the object store"
    check_promoted(stack, run_id, result)
    assert etl_rows(stack) == (EXPECTED_RECORDS, EXPECTED_RECORDS)
    print("\n" + "\n".join(f"{name}: {seconds:.0f} s" for name, seconds in TIMES.items()))
