"""Talk to Slurm through its command-line tools, blocking (worker) or async (triggerer).

The CLI is the one interface every Slurm install has; no REST daemon or DB is assumed. Status
queries fall back from squeue to scontrol to the jobcomp file (`sacct -c`), in that order.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dagspec_runtime.slurm.job_states import (
    JobStatus,
    normalize_state,
    parse_maxrss_gb,
    parse_scontrol_line,
    status_from_sacct,
    status_from_scontrol,
    status_from_squeue,
)

CLI_TIMEOUT_S = 30.0


class SlurmCommandError(RuntimeError):
    """A Slurm tool failed where failure is not an answer (e.g. sbatch rejected the job)."""


@dataclass(frozen=True)
class Listed:
    """One row of `squeue -t all`: enough to decide whether to re-attach."""

    job_id: str
    state: str
    comment: str


def _run(
    argv: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        check=False,
        env=None if env is None else {**os.environ, **env},
        start_new_session=env is not None,
    )


def sbatch_argv(script_path: str, comment: str) -> list[str]:
    """The exact submit command; it is also recorded as the step's execution_command."""
    return ["sbatch", "--parsable", f"--comment={comment}", script_path]


def submit(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Run sbatch and return the job id (`--parsable` prints `ID` or `ID;cluster`). With `env`
    (added to the environment) sbatch runs in its own session: a signal to the caller's
    process group does not cut the submission in half (see dagspec_runtime.ownership)."""
    done = _run(argv, env)
    if done.returncode != 0:
        detail = " ".join(done.stderr.split()) or f"exit code {done.returncode}"
        raise SlurmCommandError(f"sbatch refused the job: {detail}")
    job_id = done.stdout.strip().split(";")[0]
    if not job_id.isdigit():
        raise SlurmCommandError(f"sbatch printed no job id: {done.stdout!r}")
    return job_id


def list_jobs() -> list[Listed]:
    """All jobs the controller still remembers (any state), with their comments."""
    done = _run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%k"])
    if done.returncode != 0:
        raise SlurmCommandError(f"squeue failed ({done.returncode}): {done.stderr.strip()}")
    rows = []
    for line in done.stdout.splitlines():
        job_id, _, rest = line.partition("|")
        state, _, comment = rest.partition("|")
        rows.append(Listed(job_id.strip(), normalize_state(state), comment.strip()))
    return rows


def cancel(job_id: str) -> None:
    """scancel; a job that already ended is not an error."""
    done = _run(["scancel", job_id])
    if done.returncode != 0 and "Invalid job id" not in done.stderr:
        raise SlurmCommandError(f"scancel {job_id} failed: {done.stderr.strip()}")


def status(job_id: str) -> JobStatus | None:
    """Blocking twin of `astatus`: squeue, then scontrol, then the jobcomp file; None if unknown."""
    done = _run(["squeue", "-h", "-j", job_id, "-t", "all", "-o", "%T"])
    quick = status_from_squeue(done.stdout) if done.returncode == 0 else None
    if quick is not None and not quick.final:
        return quick
    done = _run(["scontrol", "-o", "show", "job", job_id])
    detailed = status_from_scontrol(done.stdout) if done.returncode == 0 else None
    if detailed is not None:
        return detailed
    done = _run(["sacct", "-c", "-j", job_id, "-n", "-P", "-o", "JobID,State,ExitCode,ElapsedRaw"])
    from_file = status_from_sacct(done.stdout, job_id) if done.returncode == 0 else None
    return from_file or quick


def job_fields(job_id: str) -> dict[str, str]:
    """`scontrol -o show job` as a dict; empty once the controller has forgotten the job."""
    done = _run(["scontrol", "-o", "show", "job", job_id])
    if done.returncode != 0 or not done.stdout.strip():
        return {}
    return parse_scontrol_line(done.stdout.splitlines()[0])


def peak_memory_gb(job_id: str) -> float | None:
    """Peak RSS when Slurm accounting records it; None on clusters without slurmdbd (like ours)."""
    done = _run(["sacct", "-j", job_id, "-n", "-P", "-o", "MaxRSS"])
    return parse_maxrss_gb(done.stdout) if done.returncode == 0 else None


async def _arun(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def astatus(job_id: str) -> JobStatus | None:
    """The job's status, with exit code and run time once final; None if no source knows it."""
    rc, out, _ = await _arun("squeue", "-h", "-j", job_id, "-t", "all", "-o", "%T")
    quick = status_from_squeue(out) if rc == 0 else None
    if quick is not None and not quick.final:
        return quick
    rc, out, _ = await _arun("scontrol", "-o", "show", "job", job_id)
    detailed = status_from_scontrol(out) if rc == 0 else None
    if detailed is not None:
        return detailed
    rc, out, _ = await _arun(
        "sacct", "-c", "-j", job_id, "-n", "-P", "-o", "JobID,State,ExitCode,ElapsedRaw"
    )
    from_file = status_from_sacct(out, job_id) if rc == 0 else None
    return from_file or quick


async def apeak_memory_gb(job_id: str) -> float | None:
    """Peak RSS when Slurm accounting records it; None on clusters without slurmdbd (like ours)."""
    rc, out, _ = await _arun("sacct", "-j", job_id, "-n", "-P", "-o", "MaxRSS")
    return parse_maxrss_gb(out) if rc == 0 else None


async def ajob_fields(job_id: str) -> dict[str, str]:
    """Async twin of `job_fields`."""
    rc, out, _ = await _arun("scontrol", "-o", "show", "job", job_id)
    return parse_scontrol_line(out.splitlines()[0]) if rc == 0 and out.strip() else {}


async def acancel(job_id: str) -> None:
    """scancel from the triggerer's event loop."""
    await _arun("scancel", job_id)
