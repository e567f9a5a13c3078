"""Read back what Slurm itself says about a job, independent of the code under test."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dagspec_runtime.slurm.job_states import parse_scontrol_line

ROOT = Path(__file__).resolve().parents[3]


def scontrol_fields(job_id: str) -> dict[str, str]:
    """`scontrol -o show job` as a dict, for reading back what Slurm really got."""
    done = subprocess.run(
        ["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, check=True
    )
    return parse_scontrol_line(done.stdout)


def live_jobs(job_id: str) -> str:
    """What plain `squeue -j` lists for the job: pending/running only, empty once it is gone."""
    done = subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%i %T"], capture_output=True, text=True
    )
    return done.stdout.strip()


class FakeTI:
    """The slice of a RuntimeTaskInstance the operator uses, for driving it without a scheduler."""

    def __init__(self, dag_id: str, run_id: str, try_number: int = 1, map_index: int = -1):
        self.dag_id = dag_id
        self.run_id = run_id
        self.task_id = "step"
        self.map_index = map_index
        self.try_number = try_number
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.xcom[key] = value
