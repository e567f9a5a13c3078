"""The reduction tasks for the fast local runner: the operators' pure steps, waiting in place.

Where an operator defers (cooldown, new data, a running Slurm job), these block in the runner's
worker thread instead, and stop when the try is stopped (timed out, or the run interrupted).
Jobs carry the run's tag in their `--comment`, exactly as on the Airflow path. The meta
database connection comes from `AIRFLOW_CONN_<ID>` (read without Airflow), else the embedded
SQLite file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagspec_runtime.errors import StepFailed
from dagspec_runtime.metalog.engine import env_connection_url
from dagspec_runtime.ownership import RunClosed
from dagspec_runtime.reduction.discover import (
    cooldown_left,
    discover_sub_groups,
    filter_rules,
    new_data,
    register_software,
)
from dagspec_runtime.reduction.meta_db import open_store
from dagspec_runtime.reduction.step_run import (
    finish_step,
    one_sub_group,
    prepare_step,
    record_failure,
    reset_output,
)
from dagspec_runtime.reduction.store import ReductionStore
from dagspec_runtime.run_context import RunContext
from dagspec_runtime.slurm import slurm_cli
from dagspec_runtime.slurm.outcome import OUTCOME_KEY
from dagspec_runtime.slurm.run_jobs import claim_try
from dagspec_runtime.slurm.submit import (
    JobFailed,
    finished_event,
    job_result,
    submit_try,
    wait_for_job,
)
from dagspec_runtime.slurm.try_identity import TryKey


def _store(
    project_root: str | None, meta_conn_id: str | None, meta_sqlite_path: str | None
) -> ReductionStore:
    return open_store(meta_conn_id, meta_sqlite_path, project_root, lookup=env_connection_url)


def _stopped(what: str) -> StepFailed:
    return StepFailed(f"stopped while {what}")


def register(
    run: RunContext,
    *,
    pipeline: Mapping[str, Any],
    project_root: str | None = None,
    meta_conn_id: str | None = None,
    meta_sqlite_path: str | None = None,
) -> dict[str, str]:
    return register_software(
        pipeline, _store(project_root, meta_conn_id, meta_sqlite_path), run.log
    )


def discover(
    run: RunContext,
    *,
    pipeline: Mapping[str, Any],
    group_by: Sequence[str],
    cooldown_seconds: int = 0,
    project_root: str | None = None,
    meta_conn_id: str | None = None,
    meta_sqlite_path: str | None = None,
) -> list[dict[str, Any]]:
    """Wait out the cooldown (looking again after each wait, as the operator does), then find
    the sub-groups."""
    rules = filter_rules(run.params)
    while (left := cooldown_left(pipeline, cooldown_seconds, project_root, rules, run.log)) > 0:
        if run.stop_event().wait(left):
            raise _stopped("waiting out the cooldown")
    store = _store(project_root, meta_conn_id, meta_sqlite_path)
    return discover_sub_groups(pipeline, group_by, project_root, store, rules, run.log)


def wait_for_new_data(
    run: RunContext,
    *,
    pipeline: Mapping[str, Any],
    poll_seconds: int = 60,
    products_root: str = "var/reduction",
    project_root: str | None = None,
) -> str:
    while (found := new_data(pipeline, products_root, project_root, run.log)) is None:
        if run.stop_event().wait(poll_seconds):
            raise _stopped("waiting for new data")
    return found


def step(
    run: RunContext,
    *,
    pipeline: Mapping[str, Any],
    step: Mapping[str, Any],
    sub_group: Any,
    upstream_tasks: Sequence[str] = (),
    project_root: str | None = None,
    meta_conn_id: str | None = None,
    meta_sqlite_path: str | None = None,
    products_root: str = "var/reduction",
    partition: str | None = None,
    account: str | None = None,
    poll_interval: float = 1.0,
    storage: str | None = None,
) -> dict[str, Any]:
    """One step for one sub-group: reuse, or submit, wait for the job and record it."""
    current = run.current
    if current is None:
        raise RuntimeError("a reduction step runs as a task try of the fast runner")
    group = one_sub_group(sub_group)
    store = _store(project_root, meta_conn_id, meta_sqlite_path)
    upstream = list(step.get("depends_on") or ())
    prepared = prepare_step(
        pipeline=pipeline,
        step=step,
        group=group,
        store=store,
        upstream=upstream,
        upstream_results=run.results_of(upstream_tasks) if upstream else [],
        upstream_tasks=upstream_tasks,
        products_root=products_root,
        project_root=project_root,
        partition=partition,
        account=account,
        log=run.log,
        storage=storage,
    )
    if prepared.reused is not None:
        return prepared.reused
    assert prepared.request is not None and prepared.plan is not None
    assert prepared.out_dir is not None
    key = TryKey(run.dag_id, run.run_id, current.task_id, current.map_index, current.try_number)
    attach, cancelled = claim_try(key, run.run_tag)
    if cancelled:
        run.log.warning(
            "Cancelled Slurm job(s) %s of an earlier try of this task before submitting",
            ", ".join(cancelled),
        )
    reset_output(prepared.out_dir, attach)
    stop = run.stop_event()
    if stop.is_set():
        raise _stopped("submitting")
    try:
        job_id, extra = submit_try(prepared.request, key, run.run_tag, attach, run.log)
    except (slurm_cli.SlurmCommandError, RunClosed) as exc:
        raise StepFailed(str(exc)) from None  # one line: sbatch's own reason
    run.on_cancel(lambda: _cancel_live(job_id))
    status = wait_for_job(job_id, poll_interval=poll_interval, stop=stop, log=run.log)
    if status is None:
        raise _stopped(f"Slurm job {job_id} ran")
    event = finished_event(job_id, status, extra)
    try:
        job, _ = job_result(event, run.log)
    except JobFailed as exc:
        record_failure(store, prepared.plan, event, key)
        labels = {"step": prepared.plan["step"], "sub_group_key": group["key"]}
        raise StepFailed(str(exc), {OUTCOME_KEY: {**exc.outcome.as_dict(), **labels}}) from None
    return finish_step(store, prepared.plan, job, event, key, run.log)


def _cancel_live(job_id: str) -> list[str]:
    """scancel the job if it is still live; what was cancelled. Its end is not waited for here
    (a job ignoring SIGTERM ends only after Slurm's KillWait): the run's end waits for it
    (``ownership.end_run``) and a retry's ``claim_try`` does."""
    status = slurm_cli.status(job_id)
    if status is not None and status.final:
        return []
    slurm_cli.cancel(job_id)
    return [f"Slurm job {job_id}"]
