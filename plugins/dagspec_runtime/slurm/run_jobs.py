"""The Slurm jobs of one run and of one task try: find, re-attach, cancel. No Airflow import.

Every job dagspec submits carries `--comment=dagspec:<dag>/<run>/<task>/map<i>/try<n>[@TAG]`
(see `TryKey.comment`). That comment is the only link from a Slurm job back to the run that owns
it, so it is what these functions match on:

- `claim_try(key, run_tag)` before submitting: re-attach to this try's live or completed job, and
  cancel live jobs of *other* tries of the same task instance (a worker killed with `kill -9`
  leaves its job running) so a new submission never runs beside an old one.
- `cancel_run(run_tag=...)` or `cancel_run(prefix=...)` when a run is interrupted: scancel every
  live job of the run and wait until Slurm reports them ended.

Both the Airflow operator and a local runner without Airflow call these.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Sequence

from dagspec_runtime.slurm import slurm_cli
from dagspec_runtime.slurm.job_states import FINAL_STATES, REATTACH_STATES, JobStatus
from dagspec_runtime.slurm.slurm_cli import Listed
from dagspec_runtime.slurm.try_identity import TryKey, parse_comment

RUN_TAG_ENV = "DAGSPEC_RUN_TAG"
CANCEL_WAIT_S = 45.0  # a job ignoring SIGTERM ends after Slurm's KillWait (30 s by default)
_POLL_S = 0.2


def new_run_tag() -> str:
    """A fresh tag for one local run: short, unique, safe inside a Slurm comment."""
    return uuid.uuid4().hex[:16]


def current_run_tag() -> str | None:
    """The run tag this process was started with (`DAGSPEC_RUN_TAG`), if any."""
    return os.environ.get(RUN_TAG_ENV) or None


def run_prefix(dag_id: str, run_id: str) -> str:
    """Comment prefix shared by every job of one Airflow DAG run."""
    return f"dagspec:{dag_id}/{run_id}/"


def is_live(state: str) -> bool:
    """Pending, running or anything else that may still start or use the cluster."""
    return bool(state) and state not in FINAL_STATES


def jobs_of_run(
    *, run_tag: str | None = None, prefix: str | None = None, rows: Sequence[Listed] | None = None
) -> list[Listed]:
    """Jobs (any state the controller remembers) of the run named by `run_tag` or `prefix`."""
    if not run_tag and not prefix:
        raise ValueError("name the run: run_tag or prefix")
    match: Callable[[str], bool]
    if run_tag:
        match = lambda comment: comment.startswith("dagspec:") and comment.endswith(f"@{run_tag}")  # noqa: E731
    else:
        match = lambda comment: comment.startswith(prefix or "")  # noqa: E731
    listed = slurm_cli.list_jobs() if rows is None else rows
    return [row for row in listed if match(row.comment)]


def wait_until_ended(job_ids: Sequence[str], within_s: float = CANCEL_WAIT_S) -> list[str]:
    """Poll until every job is final (or forgotten); the ids still live after `within_s`."""
    pending = list(job_ids)
    deadline = time.monotonic() + within_s
    while pending:
        live = {row.job_id for row in slurm_cli.list_jobs() if is_live(row.state)}
        pending = [job_id for job_id in pending if job_id in live]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(_POLL_S)
    return pending


def cancel_jobs(job_ids: Sequence[str], within_s: float = CANCEL_WAIT_S) -> list[str]:
    """scancel `job_ids` and wait until Slurm reports them ended; returns the ids cancelled."""
    for job_id in job_ids:
        slurm_cli.cancel(job_id)
    left = wait_until_ended(job_ids, within_s)
    if left:
        raise slurm_cli.SlurmCommandError(f"jobs {left} still live {within_s:.0f} s after scancel")
    return list(job_ids)


def cancel_run(
    *,
    run_tag: str | None = None,
    prefix: str | None = None,
    within_s: float = CANCEL_WAIT_S,
    wait: bool = True,
) -> list[str]:
    """Cancel every live job of a run (by `run_tag` or comment `prefix`): the ids cancelled,
    oldest first. Jobs that already ended are left alone and not listed. `wait=False`: scancel
    only (the caller waits for the jobs' end itself)."""
    live = [row.job_id for row in jobs_of_run(run_tag=run_tag, prefix=prefix) if is_live(row.state)]
    live.sort(key=int)
    if not wait:
        for job_id in live:
            slurm_cli.cancel(job_id)
        return live
    return cancel_jobs(live, within_s)


def claim_try(key: TryKey, run_tag: str | None = None) -> tuple[str | None, list[str]]:
    """Make `key` the only try of its task instance with a live job, before submitting.

    Returns (job id to re-attach to or None, ids of other tries' jobs that were cancelled).
    Re-attach: the newest job with exactly this try's comment that is live or COMPLETED (a
    failed one is not reused). Other tries of the same dag/run/task/map index that still have
    a live job (their worker died with `kill -9`) are cancelled and waited for.
    """
    mine = key.comment(run_tag)
    rows = slurm_cli.list_jobs()
    attach = None
    for row in sorted((r for r in rows if r.comment == mine), key=lambda r: -int(r.job_id)):
        if row.state in REATTACH_STATES:
            attach = row.job_id
            break
    stale = []
    for row in rows:
        parsed = parse_comment(row.comment)
        if parsed is None or row.comment == mine or not is_live(row.state):
            continue
        other, _ = parsed
        if (other.dag_id, other.run_id, other.task_id, other.map_index) == (
            key.dag_id,
            key.run_id,
            key.task_id,
            key.map_index,
        ):
            stale.append(row.job_id)
    return attach, cancel_jobs(sorted(stale, key=int)) if stale else []


def wait_for_final(job_id: str, within_s: float, poll_s: float = 0.25) -> JobStatus | None:
    """The job's final status if it ends within `within_s` seconds, else None (still going)."""
    deadline = time.monotonic() + within_s
    while True:
        status = slurm_cli.status(job_id)
        if status is not None and status.final:
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
