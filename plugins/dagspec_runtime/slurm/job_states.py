"""Parse what squeue, scontrol and `sacct -c` say about a job into one `JobStatus`.

Without slurmdbd there is no single source for a job's fate: squeue and scontrol know it until
MinJobAge expires, after which only the jobcomp file (read by `sacct -c`) remembers it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SUCCESS_STATES = frozenset({"COMPLETED"})
FAILED_STATES = frozenset(
    {
        "FAILED",
        "TIMEOUT",
        "CANCELLED",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)
FINAL_STATES = SUCCESS_STATES | FAILED_STATES
# States in which a job of this task try is still worth re-attaching to instead of resubmitting.
REATTACH_STATES = (
    frozenset(
        {
            "PENDING",
            "CONFIGURING",
            "RUNNING",
            "COMPLETING",
            "SUSPENDED",
            "REQUEUED",
            "REQUEUE_HOLD",
            "REQUEUE_FED",
            "RESIZING",
            "SIGNALING",
            "STAGE_OUT",
            "STOPPED",
            "RESV_DEL_HOLD",
        }
    )
    | SUCCESS_STATES
)


@dataclass(frozen=True)
class JobStatus:
    """A job's state as far as Slurm knows; exit details only once it is final."""

    state: str
    exit_code: int | None = None
    signal: int | None = None
    runtime_s: float | None = None
    source: str = ""

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalize_state(raw: str) -> str:
    """`CANCELLED by 0` → `CANCELLED`; `COMPLETED+` → `COMPLETED`; empty → ``."""
    words = raw.strip().split()
    return words[0].rstrip("+").upper() if words else ""


def parse_exit_code(raw: str) -> tuple[int | None, int | None]:
    """`3:0` → (3, 0): the job's exit status and the signal that ended it."""
    code, _, sig = raw.strip().partition(":")
    try:
        return int(code), int(sig or 0)
    except ValueError:
        return None, None


def parse_duration(raw: str) -> float | None:
    """Slurm durations `[D-]HH:MM:SS`, `MM:SS` or `MM:SS.mmm` to seconds."""
    raw = raw.strip()
    if not raw or raw in {"UNLIMITED", "INVALID", "N/A"}:
        return None
    days = 0
    if "-" in raw:
        day_text, raw = raw.split("-", 1)
        days = int(day_text)
    try:
        parts = [float(p) for p in raw.split(":")]
    except ValueError:
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return days * 86400 + seconds


def parse_scontrol_line(line: str) -> dict[str, str]:
    """`scontrol -o show job` prints one line of `Key=Value` pairs separated by spaces."""
    fields: dict[str, str] = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep and key not in fields:
            fields[key] = value
    return fields


def status_from_squeue(text: str) -> JobStatus | None:
    """`squeue -h -j ID -t all -o %T` prints the bare state, or nothing once the job is gone."""
    state = normalize_state(text.splitlines()[0]) if text.strip() else ""
    return JobStatus(state=state, source="squeue") if state else None


def status_from_scontrol(text: str) -> JobStatus | None:
    """State, exit code and run time from `scontrol -o show job ID`."""
    if not text.strip():
        return None
    fields = parse_scontrol_line(text.splitlines()[0])
    state = normalize_state(fields.get("JobState", ""))
    if not state:
        return None
    code, sig = parse_exit_code(fields.get("ExitCode", ""))
    return JobStatus(
        state=state,
        exit_code=code,
        signal=sig,
        runtime_s=parse_duration(fields.get("RunTime", "")),
        source="scontrol",
    )


def status_from_sacct(text: str, job_id: str) -> JobStatus | None:
    """Last record for `job_id` in `sacct -c -n -P -o JobID,State,ExitCode,ElapsedRaw` output.

    Job ids can repeat after a controller restart, so the newest (last) line wins.
    """
    found: JobStatus | None = None
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 4 or parts[0].strip() != job_id:
            continue
        code, sig = parse_exit_code(parts[2])
        try:
            runtime: float | None = float(parts[3])
        except ValueError:
            runtime = None
        found = JobStatus(
            state=normalize_state(parts[1]),
            exit_code=code,
            signal=sig,
            runtime_s=runtime,
            source="sacct-jobcomp",
        )
    return found


def parse_maxrss_gb(text: str) -> float | None:
    """Largest MaxRSS (e.g. `1234K`, `12M`, `1.5G`) over a job's steps, in GB; None if absent."""
    factors = {"K": 1 / 1024**2, "M": 1 / 1024, "G": 1.0, "T": 1024.0}
    best: float | None = None
    for line in text.splitlines():
        value = line.strip().split("|")[0]
        if not value:
            continue
        unit = value[-1].upper()
        try:
            gb = float(value[:-1]) * factors[unit] if unit in factors else float(value) / 1024**3
        except ValueError:
            continue
        best = gb if best is None else max(best, gb)
    return round(best, 3) if best is not None else None
