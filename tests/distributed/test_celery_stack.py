"""dagspec on CeleryExecutor with two workers that share no local disk (one stack, in order).

Why: on a cluster each task of a run may land on another machine. These tests prove that the
entity and ETL DAGs find their run state on whichever worker runs them, when dagspec.yaml
declares it on a shared folder or in an object store, and that a worker lacking the storage
fails at once with a clear message. The object store is moto in server mode, an S3-API
*emulator* on 127.0.0.1 (no real S3 server can run here); everything else is real: Redis,
PostgreSQL (Airflow metadata and the meta-log), Airflow 3.3 and Celery workers in their own
mount and UTS namespaces (private /tmp, own hostname).

The reduction pipeline needs Slurm and is not part of this suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from .conftest import BUCKET, ENTITY, ETL, HOLD, STORAGE_CONN, CeleryStack, Moto, stack_module

pytestmark = [pytest.mark.celery, pytest.mark.e2e, pytest.mark.postgres]

RUN_TIMEOUT = 420
WORKERS = {"worker-a", "worker-b"}
EXPECTED_RECORDS = len(json.loads(
    (Path(__file__).resolve().parents[2] / "examples" / "sources" / f"{ENTITY}.json").read_text()
)["records"])
TIMES: dict[str, float] = {}


def q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def wait_parsed(stack: CeleryStack, dag_ids: set[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while True:
        errors = stack.api.get("/api/v2/importErrors")
        assert errors["total_entries"] == 0, errors
        dags = {d["dag_id"] for d in stack.api.get("/api/v2/dags?limit=100")["dags"]}
        if dag_ids <= dags:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"not parsed after {timeout}s: {dag_ids - dags}")
        time.sleep(2)


def trigger(stack: CeleryStack, dag_id: str, conf: dict[str, Any] | None = None) -> str:
    status, run = stack.api.call("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                                 {"logical_date": None, "conf": conf or {}})
    assert status == 200, f"trigger refused: {status} {run}"
    return run["dag_run_id"]


def wait_run(stack: CeleryStack, dag_id: str, run_id: str) -> dict[str, Any]:
    return stack.api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)


def tasks(stack: CeleryStack, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    body = stack.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{q(run_id)}/taskInstances?limit=100")
    return body["task_instances"]


def tries(stack: CeleryStack, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
    body = stack.api.get(
        f"/api/v2/dags/{dag_id}/dagRuns/{q(run_id)}/taskInstances/{task_id}/tries")
    return sorted(body["task_instances"], key=lambda t: t["try_number"])


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
        total, distinct = conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT waste_record_id) FROM waste_records")).one()
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


PROBE_DAG = '''
from datetime import datetime, timezone
from airflow.sdk import DAG
from dagspec_runtime.entity import ModuleOperator, PrepareWorkspaceOperator

with DAG("storage-probe", schedule=None, catchup=False,
         start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)) as dag:
    made = PrepareWorkspaceOperator(task_id="prepare_workspace", entity="probe",
                                    phases=["check"], storage={storage!r})
    module = ModuleOperator(task_id="module_elsewhere", entity="probe", phase="check",
                            command=["python", "-c", "print()"], project_root={root!r},
                            queue="isolated")
    prepare_here = PrepareWorkspaceOperator(task_id="prepare_here", entity="probe",
                                            phases=["check"], storage={storage!r},
                                            queue="isolated")
    made >> module
'''


def task_log(stack: CeleryStack, worker: str, run_id: str, task_id: str) -> str:
    pattern = f"airflow/logs/dag_id=storage-probe/run_id={run_id}/task_id={task_id}/*.log"
    files = stack.worker_file(worker, pattern)
    assert files, f"no log for {task_id} on {worker}"
    return "\n".join(f.read_text(errors="replace") for f in files)


def test_worker_without_the_storage_fails_with_a_clear_message(celery_stack: CeleryStack) -> None:
    """A third worker host that lacks the shared mount fails its tasks at once, naming itself,
    the storage and the fix, instead of working on a missing or empty folder."""
    stack = celery_stack
    stack.add_worker("worker-c", "--without-storage", "--queues", "isolated")
    dag_file = stack.project.root / "generated_dags" / "storage_probe.py"
    dag_file.write_text(PROBE_DAG.format(storage=str(stack.project.shared),
                                         root=str(stack.project.root)))
    try:
        wait_parsed(stack, {"storage-probe"})
        run_id = trigger(stack, "storage-probe")
        final = wait_run(stack, "storage-probe", run_id)
    finally:
        dag_file.unlink()
    states = {t["task_id"]: (t["state"], t["hostname"]) for t in
              tasks(stack, "storage-probe", run_id)}
    assert final["state"] == "failed"
    assert states["prepare_workspace"][0] == "success"
    assert states["module_elsewhere"] == ("failed", "worker-c"), states
    assert states["prepare_here"] == ("failed", "worker-c"), states
    shared = str(stack.project.shared)
    module_log = task_log(stack, "worker-c", run_id, "module_elsewhere")
    assert "worker 'worker-c' cannot find workspace.json in " + shared in module_log
    prepare_log = task_log(stack, "worker-c", run_id, "prepare_here")
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
        while not any("hold.py" in cmdline(pid)
                      for pid in stack_module.worker_processes(stack.record, victim)):
            assert time.monotonic() < deadline, f"the module never started on {victim}"
            time.sleep(0.5)
        killed = stack_module.kill_worker(stack.record, victim)
        assert stack.worker_pid(victim) in killed, killed
        assert not stack_module.worker_processes(stack.record, victim)
    finally:
        hold.unlink()
    final = wait_run(stack, ENTITY, run_id)
    TIMES["fault run (kill -9 + retry)"] = time.monotonic() - started
    attempts = tries(stack, ENTITY, run_id, task_id)
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
    done = subprocess.run([sys.executable, "-m", "dagspec_runtime.storage", "init", url],
                          env=stack.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    # Workers run tasks from the DAG file on disk; wait until the dag-processor read it too.
    deadline = time.monotonic() + 180
    for dag_id in (ENTITY, ETL):
        while datetime.fromisoformat(
            stack.api.get(f"/api/v2/dags/{dag_id}")["last_parsed_time"]
        ) <= switched:
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
