"""A step whose program fails: the task fails with the job's log tail, the meta database
records the executed step as FAILED, and nothing downstream runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import DagRunResult, ReductionEnv, slurm_jobs_of
from .dag_source import STEPS

pytestmark = [pytest.mark.slurm, pytest.mark.airflow]


def test_failing_program_fails_the_step_and_is_recorded(
    run_reduction: Callable[..., DagRunResult],
    reduction_env: ReductionEnv,
    capfd: pytest.CaptureFixture[str],
) -> None:
    config = {**STEPS["calibrate"]["config"], "parameters": {"calibration_mode": "bogus mode"}}
    run = run_reduction("reduction_fail", step_overrides={"calibrate": {"config": config}})
    assert run.state == "failed"
    assert [t.state for t in run.of("per_scan.calibrate")] == ["failed", "failed"]
    assert {t.state for t in run.of("per_scan.baseline")} == {"upstream_failed"}
    jobs = slurm_jobs_of(run.dag_id)
    assert len(jobs) == 2
    rows = reduction_env.rows(
        "SELECT status, hpc_job_id, command FROM executed_reduction_step WHERE dag_id = :d",
        d=run.dag_id,
    )
    assert sorted(r["hpc_job_id"] for r in rows) == sorted(jobs)
    assert {r["status"] for r in rows} == {"FAILED"}
    assert all("--mode 'bogus mode'" in r["command"] for r in rows)  # one quoted argument
    text = "".join(capfd.readouterr())
    assert "ended FAILED (exit code 1" in text and "unknown --mode 'bogus mode'" in text
