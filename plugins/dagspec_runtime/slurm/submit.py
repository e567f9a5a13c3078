"""One task try's Slurm job, without Airflow: submit (or re-attach), wait, judge the outcome.

SlurmSubmitOperator calls these around its deferral; the fast local runner (`dagspec run`)
calls the same functions and waits in its own thread instead of a trigger, so both paths write
the same batch script, submit the same `sbatch` line with the same `--comment`, and fail with
the same message (job id, state, exit code and output tail).
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagspec_runtime import ownership
from dagspec_runtime.slurm import slurm_cli
from dagspec_runtime.slurm.batch_script import render_batch_script
from dagspec_runtime.slurm.job_states import SUCCESS_STATES, JobStatus
from dagspec_runtime.slurm.outcome import TAIL_LINES, JobOutcome, final_event, outcome_from_event
from dagspec_runtime.slurm.sbatch_flags import resource_flags
from dagspec_runtime.slurm.try_identity import TryKey

LOST_AFTER_S = 120.0  # as SlurmJobTrigger: a job no source knows for this long is lost
_FAST_POLL_S = 0.25
_FAST_WINDOW_S = 5.0


@dataclass
class JobRequest:
    """What to submit: the batch script's parts (see `render_batch_script`)."""

    job_name: str
    command: str
    output_dir: str
    resources: Mapping[str, Any] = field(default_factory=dict)
    partition: str | None = None
    account: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None

    def script(self, stem: Path) -> str:
        return render_batch_script(
            job_name=self.job_name,
            command=self.command,
            flags=resource_flags(self.resources),
            partition=self.partition,
            account=self.account,
            environment=self.environment,
            workdir=self.workdir,
            output_path=f"{slurm_filename(str(stem))}.%j.out",
        )


def slurm_filename(path: str) -> str:
    """``path`` as a literal in an ``--output`` filename pattern (Slurm expands ``%x``, so a
    ``%`` in a folder name is written ``%%``; sbatch(1), "filename pattern")."""
    return path.replace("%", "%%")


class JobFailed(Exception):
    """The job ended in a state other than COMPLETED; `outcome` is what a summary shows."""

    def __init__(self, message: str, outcome: JobOutcome, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.result = result


def submit_try(
    request: JobRequest, key: TryKey, run_tag: str | None, attach: str | None, log: Any
) -> tuple[str, dict[str, Any]]:
    """Submit the try's job (or re-attach to `attach`, the try's existing job); the job id and
    the context its final event carries (execution_command, output_path, submitted_at)."""
    stem = key.stem(request.output_dir)
    script_path = stem.with_name(stem.name + ".sh")
    argv = slurm_cli.sbatch_argv(str(script_path), key.comment(run_tag))
    extra: dict[str, Any] = {"execution_command": shlex.join(argv)}
    job_id = attach
    if job_id is None:
        stem.parent.mkdir(parents=True, exist_ok=True)
        script_path.write_text(request.script(stem))
        extra["submitted_at"] = time.time()
        with ownership.submission(run_tag) as env:  # recorded as intended before sbatch runs
            job_id = slurm_cli.submit(argv, env if run_tag else None)
        log.info("Submitted Slurm job %s: %s", job_id, shlex.join(argv))
    extra["output_path"] = f"{stem}.{job_id}.out"
    return job_id, extra


def wait_for_job(
    job_id: str, *, poll_interval: float = 1.0, stop: threading.Event | None = None, log: Any = None
) -> JobStatus | None:
    """Block until the job is final (as SlurmJobTrigger polls, fast for the first seconds); a
    job unknown to every source for LOST_AFTER_S is UNKNOWN. None when `stop` was set first."""
    started = time.monotonic()
    unknown_since: float | None = None
    last = ""
    while stop is None or not stop.is_set():
        status = slurm_cli.status(job_id)
        if status is None:
            unknown_since = unknown_since or time.monotonic()
            if time.monotonic() - unknown_since > LOST_AFTER_S:
                return JobStatus(state="UNKNOWN", source="none")
        else:
            unknown_since = None
            if log is not None and status.state != last:
                log.info("Slurm job %s is %s", job_id, status.state)
                last = status.state
            if status.final:
                return status
        fast = time.monotonic() - started < _FAST_WINDOW_S
        delay = min(poll_interval, _FAST_POLL_S) if fast else poll_interval
        if stop is None:
            time.sleep(delay)
        else:
            stop.wait(delay)
    return None


def finished_event(job_id: str, status: JobStatus, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The final event of a job, the shape the trigger yields (`outcome.final_event`)."""
    if status.state == "UNKNOWN":
        return {"job_id": job_id, **status.as_dict(), "context": dict(extra)}
    return final_event(job_id, status, extra)


def job_result(event: Mapping[str, Any], log: Any) -> tuple[dict[str, Any], JobOutcome]:
    """The step result of a final job event and its outcome; `JobFailed` (with the output
    tail in the message) unless the job COMPLETED."""
    extra = event.get("context") or {}
    job_id = str(event["job_id"])
    output_path = extra.get("output_path", "")
    result = {
        "hpc_job_id": job_id,
        "state": event["state"],
        "exit_code": event.get("exit_code"),
        "execution_command": extra.get("execution_command"),
        "processing_time_s": event.get("runtime_s"),
        "peak_memory_gb": event.get("peak_memory_gb"),
        "cpu_time_s": event.get("cpu_time_s"),
        "output_path": output_path,
    }
    if "submitted_at" in extra:
        log.info(
            "Slurm job %s %s after %.1f s since submit (run time %s s, source %s)",
            job_id,
            event["state"],
            time.time() - float(extra["submitted_at"]),
            event.get("runtime_s"),
            event.get("source"),
        )
    outcome = outcome_from_event(event, TAIL_LINES)
    if event["state"] in SUCCESS_STATES:
        return result, outcome
    tail = outcome.output_tail
    message = (
        f"Slurm job {job_id} ended {event['state']} "
        f"(exit code {event.get('exit_code')}, signal {event.get('signal')}); "
        f"last {len(tail)} lines of {output_path}:\n" + "\n".join(tail)
    )
    log.error("%s", message)
    raise JobFailed(message, outcome, result)
