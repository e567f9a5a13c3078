"""What one finished Slurm job amounted to, as data a run summary can show. No Airflow import.

`job_outcome(job_id, output_path)` asks Slurm itself; `outcome_from_event(event)` turns the
payload SlurmJobTrigger emits (or the operator builds when the job ended before deferring) into
the same shape. Peak memory needs Slurm accounting (slurmdbd + jobacct_gather); clusters
without it (like the project's test cluster) report None. `cpu_time_s` is the allocated CPU
time (run time x allocated CPUs, Slurm's CPUTime), which scontrol reports without accounting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from dagspec_runtime.slurm import slurm_cli
from dagspec_runtime.slurm.job_states import JobStatus, parse_duration
from dagspec_runtime.slurm.log_tail import tail_lines

TAIL_LINES = 20
#: where a failed Slurm step leaves its job outcome (XCom key on the Airflow path, the failed
#: task's value on the fast path), for the run summary
OUTCOME_KEY = "slurm_job"


@dataclass(frozen=True)
class JobOutcome:
    """job id, final state, exit code/signal, times, peak memory and the output file's tail."""

    job_id: str
    state: str
    exit_code: int | None = None
    signal: int | None = None
    runtime_s: float | None = None
    cpu_time_s: float | None = None
    peak_memory_gb: float | None = None
    output_path: str = ""
    output_tail: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.state == "COMPLETED"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line: `job 12 FAILED exit 3 (signal 0) after 1.0 s`."""
        text = f"job {self.job_id} {self.state} exit {self.exit_code}"
        if self.signal:
            text += f" (signal {self.signal})"
        if self.runtime_s is not None:
            text += f" after {self.runtime_s:g} s"
        return text


def cpu_time_s(fields: Mapping[str, str]) -> float | None:
    """Allocated CPU-seconds from `scontrol show job` fields (RunTime x NumCPUs)."""
    runtime = parse_duration(fields.get("RunTime", ""))
    try:
        cpus = int(fields.get("NumCPUs", ""))
    except ValueError:
        return None
    return None if runtime is None else runtime * cpus


def job_outcome(
    job_id: str,
    output_path: str = "",
    *,
    status: JobStatus | None = None,
    peak_memory_gb: float | None = None,
    tail: int = TAIL_LINES,
) -> JobOutcome:
    """Ask Slurm what became of `job_id` (pass `status` when already known) and read the tail of
    its output file. A job no source knows any more is `UNKNOWN`."""
    status = status or slurm_cli.status(job_id) or JobStatus(state="UNKNOWN")
    fields = slurm_cli.job_fields(job_id)
    if peak_memory_gb is None:
        peak_memory_gb = slurm_cli.peak_memory_gb(job_id)
    return JobOutcome(
        job_id=str(job_id),
        state=status.state,
        exit_code=status.exit_code,
        signal=status.signal,
        runtime_s=status.runtime_s,
        cpu_time_s=cpu_time_s(fields),
        peak_memory_gb=peak_memory_gb,
        output_path=output_path,
        output_tail=tail_lines(output_path, tail) if output_path else [],
    )


def outcome_from_event(event: Mapping[str, Any], tail: int = TAIL_LINES) -> JobOutcome:
    """The outcome recorded in a final job event (see `final_event`), reading the output tail."""
    extra = event.get("context") or {}
    output_path = str(extra.get("output_path") or "")
    return JobOutcome(
        job_id=str(event["job_id"]),
        state=str(event["state"]),
        exit_code=event.get("exit_code"),
        signal=event.get("signal"),
        runtime_s=event.get("runtime_s"),
        cpu_time_s=event.get("cpu_time_s"),
        peak_memory_gb=event.get("peak_memory_gb"),
        output_path=output_path,
        output_tail=tail_lines(output_path, tail) if output_path else [],
    )


def final_event(
    job_id: str, status: JobStatus, context: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The payload of a job's final event: status, peak memory, CPU time, echoed context.

    Built in the worker when the job ended before the task deferred, and (the same keys) by the
    trigger otherwise, so `execute_complete` sees one shape either way.
    """
    return {
        "job_id": str(job_id),
        **status.as_dict(),
        "peak_memory_gb": slurm_cli.peak_memory_gb(job_id),
        "cpu_time_s": cpu_time_s(slurm_cli.job_fields(job_id)),
        "context": dict(context or {}),
    }
