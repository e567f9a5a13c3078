"""SlurmSubmitOperator through real Airflow (`dag.test()` runs the deferral in-process)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import StepRun
from .helpers import scontrol_fields

pytestmark = [pytest.mark.slurm, pytest.mark.airflow]


@pytest.fixture(scope="module")
def ok_run(run_step: Callable[..., StepRun], tmp_path_factory: pytest.TempPathFactory) -> StepRun:
    """One successful step with non-default resources, shared by the tests that inspect it."""
    return run_step(
        "slurm_ok",
        output_dir=str(tmp_path_factory.mktemp("out") / "with space"),
        job_name="reduction-calibrate",
        command="echo calibrating scan {{ params.get('scan', 7) }} in $MODE; pwd",
        resources={"cpu": 2, "memory_gb": 0.75, "time_hours": 0.1, "gpu": 0},
        environment={"MODE": "hot_cold"},
    )


def test_step_succeeds_and_returns_its_result(ok_run: StepRun) -> None:
    assert ok_run.state == "success"
    result = ok_run.result
    assert result is not None
    assert result["hpc_job_id"] == ok_run.hpc_job_id
    assert result["state"] == "COMPLETED"
    assert result["exit_code"] == 0
    assert result["execution_command"].startswith("sbatch --parsable --comment=dagspec:slurm_ok/")
    script = shlex.split(result["execution_command"])[-1]
    assert script.endswith("/with space/slurm_ok/" + script.split("/")[-2] + "/step.try1.sh")
    assert "#SBATCH --cpus-per-task=2" in Path(script).read_text()
    assert isinstance(result["processing_time_s"], float)
    assert result["peak_memory_gb"] is None  # no accounting database on the test cluster
    with open(result["output_path"]) as handle:
        output = handle.read()
    assert "calibrating scan 7 in hot_cold" in output  # Jinja-rendered command, exported env


def test_resources_reach_slurm_as_flags(ok_run: StepRun) -> None:
    assert ok_run.hpc_job_id
    job = scontrol_fields(ok_run.hpc_job_id)
    assert job["JobName"] == "reduction-calibrate"
    assert job["NumCPUs"] == "2"
    assert job["CPUs/Task"] == "2"
    assert job["MinMemoryNode"] == "768M"
    assert job["TimeLimit"] == "00:06:00"


def test_failing_job_fails_the_task_with_exit_code_and_output(
    run_step: Callable[..., StepRun], capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_step(
        "slurm_exit3",
        job_name="exit3",
        command="for i in $(seq 1 30); do echo out-line-$i; done; exit 3",
        resources={"cpu": 1, "memory_gb": 0.25, "time_hours": 0.05},
    )
    assert run.state == "failed"
    assert run.result is None
    assert run.hpc_job_id
    job = scontrol_fields(run.hpc_job_id)
    assert (job["JobState"], job["ExitCode"]) == ("FAILED", "3:0")
    log = capfd.readouterr()
    text = log.out + log.err
    assert f"Slurm job {run.hpc_job_id} ended FAILED (exit code 3" in text
    assert "out-line-30" in text and "out-line-11" in text  # the last 20 lines
    assert "out-line-10\n" not in text
