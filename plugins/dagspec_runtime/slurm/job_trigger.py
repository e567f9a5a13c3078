"""Deferrable wait for a Slurm job: polls in the triggerer so no worker slot idles on a job."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from dagspec_runtime.slurm import slurm_cli
from dagspec_runtime.slurm.outcome import cpu_time_s

# Short jobs are the common case in tests and small steps: poll every 0.25 s for the first 5 s
# before settling on poll_interval, so a one-second job is not charged a whole extra interval.
_FAST_POLL_S = 0.25
_FAST_WINDOW_S = 5.0
# Why a quick result is held back (measured on Airflow 3.3.2): after a task defers, its worker's
# supervisor notices the task process exit only at its next poll, up to [workers]
# min_heartbeat_interval (5 s) later, and only then does the executor report "success" for that
# try. If the trigger fired meanwhile, the scheduler has already queued the resumed task under
# the same try number, takes the late "success" for a crash of it and fails it (it guards only
# the SCHEDULED state: apache/airflow#67287, #72716). So the operator finishes jobs that end
# quickly without deferring at all, and the trigger reports no sooner than `settle_s` after it
# started: twice that poll interval plus a few scheduler loops.
SETTLE_FLOOR_S = 5.0


def default_settle_s() -> float:
    """2 x [workers] min_heartbeat_interval + 5 s (15 s with Airflow's defaults)."""
    try:
        from airflow.sdk.configuration import conf

        interval = conf.getfloat("workers", "min_heartbeat_interval", fallback=5.0)
    except Exception:  # no config available: assume Airflow's default
        interval = 5.0
    return max(SETTLE_FLOOR_S, 2 * interval + 5.0)


class SlurmJobTrigger(BaseTrigger):
    """Fire one event when job `job_id` reaches a final state (or is lost for `lost_after_s`).

    `context` is echoed back in the event untouched: `dag.test()` resumes a task with the event
    only (no defer kwargs), so anything execute_complete needs travels in the event.
    """

    def __init__(
        self,
        job_id: str,
        poll_interval: float = 1.0,
        lost_after_s: float = 120.0,
        context: dict[str, Any] | None = None,
        settle_s: float | None = None,
    ) -> None:
        super().__init__()
        self.job_id = str(job_id)
        self.poll_interval = float(poll_interval)
        self.lost_after_s = float(lost_after_s)
        self.context = dict(context or {})
        self.settle_s = default_settle_s() if settle_s is None else float(settle_s)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "poll_interval": self.poll_interval,
                "lost_after_s": self.lost_after_s,
                "context": self.context,
                "settle_s": self.settle_s,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        unknown_since: float | None = None
        last_state = ""
        started = time.monotonic()
        while True:
            status = await slurm_cli.astatus(self.job_id)
            if status is None:
                # Only a vanished job is unknown to all three sources; allow for a controller
                # restart before giving up.
                unknown_since = unknown_since or time.monotonic()
                if time.monotonic() - unknown_since > self.lost_after_s:
                    await self._settle(started)
                    yield TriggerEvent(self._payload({"state": "UNKNOWN", "source": "none"}))
                    return
            else:
                unknown_since = None
                if status.state != last_state:
                    self.log.info("Slurm job %s is %s", self.job_id, status.state)
                    last_state = status.state
                if status.final:
                    payload = status.as_dict()
                    payload["peak_memory_gb"] = await slurm_cli.apeak_memory_gb(self.job_id)
                    payload["cpu_time_s"] = cpu_time_s(await slurm_cli.ajob_fields(self.job_id))
                    await self._settle(started)
                    yield TriggerEvent(self._payload(payload))
                    return
            fast = time.monotonic() - started < _FAST_WINDOW_S
            await asyncio.sleep(
                min(self.poll_interval, _FAST_POLL_S) if fast else self.poll_interval
            )

    async def _settle(self, started: float) -> None:
        """Hold a quick result until `settle_s` after start (see the note at the top)."""
        remaining = started + self.settle_s - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)

    async def on_kill(self) -> None:
        """The user killed the deferred task (mark failed/success, clear): cancel the job."""
        self.log.info("Task killed while deferred: scancel %s", self.job_id)
        await slurm_cli.acancel(self.job_id)

    def _payload(self, status: dict[str, Any]) -> dict[str, Any]:
        return {"job_id": self.job_id, **status, "context": self.context}
