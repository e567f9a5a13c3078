"""on_kill cancels the job; a re-run of the same try re-attaches; a new try submits anew.

These drive the operator with a minimal task-instance stand-in: killing a task or repeating a try
cannot be staged inside `dag.test()`, but the Slurm side here is entirely real.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred
from dagspec_runtime.slurm import SlurmJobTrigger, SlurmSubmitOperator
from dagspec_runtime.slurm.slurm_cli import list_jobs

from .helpers import FakeTI, live_jobs, scontrol_fields

pytestmark = pytest.mark.slurm


@pytest.fixture
def submitted(slurm_cluster: Any, tmp_path: Path) -> Iterator[list[str]]:
    """Collects job ids a test started and cancels whatever is still live afterwards."""
    ids: list[str] = []
    yield ids
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True)


def _operator(
    tmp_path: Path, command: str = "sleep 300", wait_in_worker_s: float = 0.0
) -> SlurmSubmitOperator:
    return SlurmSubmitOperator(
        task_id="step",
        job_name="dagspec-test-long",
        command=command,
        resources={"cpu": 1, "memory_gb": 0.25, "time_hours": 0.1},
        output_dir=str(tmp_path),
        poll_interval=0.2,
        wait_in_worker_s=wait_in_worker_s,
        settle_s=0.0,
    )


def _start(op: SlurmSubmitOperator, ti: FakeTI) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": ti})  # type: ignore[arg-type]
    return deferred.value


def _ending_bound_s() -> float:
    """How long Slurm itself may take to end a cancelled job: the job gets SIGTERM, SIGKILL
    KillWait seconds later, and slurmd reports within MessageTimeout. A shorter wait would
    measure the machine's load, not the cancellation."""
    config = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, check=True
    ).stdout
    seconds = dict(re.findall(r"^(KillWait|MessageTimeout)\s*=\s*(\d+) sec", config, re.M))
    return float(int(seconds["KillWait"]) + int(seconds["MessageTimeout"]))


def _gone_from_squeue(job_id: str) -> bool:
    """Returns as soon as squeue no longer lists the job; gives up after Slurm's own bound."""
    deadline = time.monotonic() + _ending_bound_s()
    while time.monotonic() < deadline:
        if not live_jobs(job_id):
            return True
        time.sleep(0.1)
    return False


def _run_trigger(trigger: SlurmJobTrigger) -> dict[str, Any]:
    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first_event(), 30))


def test_on_kill_cancels_the_job(submitted: list[str], tmp_path: Path) -> None:
    op = _operator(tmp_path)
    ti = FakeTI("slurm_kill", f"run-{uuid.uuid4().hex}")
    deferred = _start(op, ti)
    job_id = str(ti.xcom["hpc_job_id"])
    submitted.append(job_id)
    assert live_jobs(job_id)  # pending or running
    op.on_kill()
    assert _gone_from_squeue(job_id)
    assert scontrol_fields(job_id)["JobState"] == "CANCELLED"
    # The deferred wait sees the cancellation and the task fails with it.
    event = _run_trigger(deferred.trigger)
    assert event["state"] == "CANCELLED"
    with pytest.raises(AirflowException, match=f"Slurm job {job_id} ended CANCELLED"):
        op.execute_complete({"ti": ti}, event)  # type: ignore[arg-type]


def test_killing_the_deferred_task_cancels_the_job(submitted: list[str], tmp_path: Path) -> None:
    """The triggerer calls trigger.on_kill() when a user marks a deferred task failed/success."""
    ti = FakeTI("slurm_kill_deferred", f"run-{uuid.uuid4().hex}")
    deferred = _start(_operator(tmp_path), ti)
    job_id = str(ti.xcom["hpc_job_id"])
    submitted.append(job_id)
    # Survives serialization, as the triggerer rebuilds it from the database.
    classpath, kwargs = deferred.trigger.serialize()
    assert classpath == "dagspec_runtime.slurm.job_trigger.SlurmJobTrigger"
    asyncio.run(SlurmJobTrigger(**kwargs).on_kill())
    assert _gone_from_squeue(job_id)


def test_same_try_reattaches_new_try_submits_anew(submitted: list[str], tmp_path: Path) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    first = FakeTI("slurm_retry", run_id, try_number=1)
    _start(_operator(tmp_path), first)
    job_id = str(first.xcom["hpc_job_id"])
    submitted.append(job_id)

    again = FakeTI("slurm_retry", run_id, try_number=1)  # the same try, run again by a new worker
    _start(_operator(tmp_path), again)
    assert again.xcom["hpc_job_id"] == job_id
    comment = f"dagspec:slurm_retry/{run_id}/step/map-1/try1"
    assert [row.job_id for row in list_jobs() if row.comment == comment] == [job_id]

    retry = FakeTI("slurm_retry", run_id, try_number=2)  # Airflow's retry: a new try number
    _start(_operator(tmp_path), retry)
    assert retry.xcom["hpc_job_id"] != job_id
    submitted.append(str(retry.xcom["hpc_job_id"]))


def test_same_try_after_a_failed_job_submits_anew(submitted: list[str], tmp_path: Path) -> None:
    run_id = f"run-{uuid.uuid4().hex}"
    first = FakeTI("slurm_refail", run_id)
    with pytest.raises(AirflowException, match="ended FAILED"):
        _operator(tmp_path, command="exit 3", wait_in_worker_s=60).execute({"ti": first})
    submitted.append(str(first.xcom["hpc_job_id"]))

    again = FakeTI("slurm_refail", run_id)
    with pytest.raises(AirflowException, match="ended FAILED"):
        _operator(tmp_path, command="exit 3", wait_in_worker_s=60).execute({"ti": again})
    submitted.append(str(again.xcom["hpc_job_id"]))
    assert again.xcom["hpc_job_id"] != first.xcom["hpc_job_id"]


def test_a_job_that_ends_quickly_finishes_without_deferring(
    submitted: list[str], tmp_path: Path
) -> None:
    """No deferral for a job that is over at once: nothing for the scheduler to mis-count."""
    ti = FakeTI("slurm_quick", f"run-{uuid.uuid4().hex}")
    result = _operator(tmp_path, command="echo quick", wait_in_worker_s=60).execute({"ti": ti})
    submitted.append(str(ti.xcom["hpc_job_id"]))
    assert result["state"] == "COMPLETED" and result["hpc_job_id"] == ti.xcom["hpc_job_id"]
    outcome = ti.xcom["slurm_job"]
    assert outcome["state"] == "COMPLETED" and outcome["exit_code"] == 0
    assert outcome["output_tail"] == ["quick"]
    assert outcome["cpu_time_s"] is not None  # run time x allocated CPUs, from scontrol


def test_a_failed_job_reports_its_id_state_exit_code_and_output_tail(
    submitted: list[str], tmp_path: Path
) -> None:
    ti = FakeTI("slurm_exit3", f"run-{uuid.uuid4().hex}")
    op = _operator(
        tmp_path, command="echo reading input; echo bad value >&2; exit 3", wait_in_worker_s=60
    )
    with pytest.raises(AirflowException) as failed:
        op.execute({"ti": ti})  # type: ignore[arg-type]
    job_id = str(ti.xcom["hpc_job_id"])
    submitted.append(job_id)
    outcome = ti.xcom["slurm_job"]
    assert outcome["job_id"] == job_id
    assert (outcome["state"], outcome["exit_code"]) == ("FAILED", 3)
    assert outcome["output_tail"] == ["reading input", "bad value"]
    assert f"Slurm job {job_id} ended FAILED (exit code 3" in str(failed.value)


_WORKER = """
import sys
sys.path.insert(0, {plugins!r}); sys.path.insert(0, {tests!r})
from dagspec_runtime.slurm import SlurmSubmitOperator
from slurm.helpers import FakeTI
op = SlurmSubmitOperator(task_id="step", job_name="dagspec-test-kill9", command="sleep 300",
                         resources={{"cpu": 1, "memory_gb": 0.25, "time_hours": 0.1}},
                         output_dir={out!r}, wait_in_worker_s=600, settle_s=0)
ti = FakeTI("slurm_kill9", {run_id!r}, try_number=1)
print("executing", flush=True)
op.execute({{"ti": ti}})
"""


def test_retry_after_kill_9_of_the_worker_cancels_the_orphan_before_submitting(
    submitted: list[str], tmp_path: Path
) -> None:
    """A worker process killed with SIGKILL mid-job leaves its job running; the retry cancels it
    before submitting its own, so at no moment do two jobs of this task instance run."""
    import sys
    import threading

    run_id = f"run-{uuid.uuid4().hex}"
    prefix = f"dagspec:slurm_kill9/{run_id}/step/map-1/try"
    root = Path(__file__).resolve().parents[3]
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _WORKER.format(
                plugins=str(root / "plugins"),
                tests=str(root / "tests" / "runtime"),
                out=str(tmp_path),
                run_id=run_id,
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        first: list[str] = []
        while not first and time.monotonic() < deadline:
            first = [
                r.job_id
                for r in list_jobs()
                if r.comment == prefix + "1" and r.state in {"PENDING", "RUNNING"}
            ]
            time.sleep(0.1)
        assert first, "the worker never submitted its job"
        submitted.extend(first)
        worker.kill()  # SIGKILL: no on_kill, no cleanup
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert [r.state for r in list_jobs() if r.job_id == first[0]] in (["PENDING"], ["RUNNING"])

    most_live = 0
    stop = threading.Event()

    def sample() -> None:
        # One more sample after the retry has returned: its own job is then live, so the count
        # cannot miss it however late this thread got the CPU.
        nonlocal most_live
        while True:
            last = stop.is_set()
            live = [
                r
                for r in list_jobs()
                if r.comment.startswith(prefix)
                and r.state not in {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}
            ]
            most_live = max(most_live, len(live))
            if last:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        retry = FakeTI("slurm_kill9", run_id, try_number=2)
        _start(_operator(tmp_path), retry)
        submitted.append(str(retry.xcom["hpc_job_id"]))
    finally:
        stop.set()
        sampler.join()
    assert scontrol_fields(first[0])["JobState"] == "CANCELLED"
    assert retry.xcom["hpc_job_id"] != first[0]
    assert most_live == 1
