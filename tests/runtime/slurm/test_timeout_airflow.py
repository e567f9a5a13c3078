"""A job over its time limit fails the task as TIMEOUT. Slow by nature (~60-90 s): keep one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import StepRun
from .helpers import scontrol_fields

pytestmark = [pytest.mark.slurm, pytest.mark.airflow]


def test_job_over_time_limit_fails_as_timeout(
    run_step: Callable[..., StepRun], capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_step(
        "slurm_timeout",
        job_name="too-slow",
        command="echo starting; sleep 120; echo never",
        resources={"cpu": 1, "memory_gb": 0.25, "time_hours": 1 / 60},
        poll_interval=2.0,
    )
    assert run.state == "failed"
    assert run.hpc_job_id
    job = scontrol_fields(run.hpc_job_id)
    assert job["JobState"] == "TIMEOUT"
    assert job["TimeLimit"] == "00:01:00"
    log = capfd.readouterr()
    text = log.out + log.err
    assert f"Slurm job {run.hpc_job_id} ended TIMEOUT" in text
    assert "starting" in text
    # Ended by its limit, not by running out (sleep 120 would need 120 s): Slurm's own clock,
    # since dag.test()'s start-up on a busy machine is not the job's time.
    hours, minutes, seconds = (int(part) for part in job["RunTime"].split(":"))
    assert 60 <= hours * 3600 + minutes * 60 + seconds < 120, job["RunTime"]
