"""Deferrable tasks through the real triggerer, and concurrent runs of one entity.

Why: dag.test() runs triggers in-process; only a running triggerer shows that a Slurm job's
wait (SlurmJobTrigger) and a cooldown (DateTimeTrigger) resume the task in a real deployment.
The example's Slurm jobs end within seconds, so most finish in the worker without deferring;
tests/system/stress (`make stress`) defers every job of a step through this same kind of stack.
"""

from __future__ import annotations

import subprocess
import urllib.parse

import pytest

from .conftest import Api

pytestmark = pytest.mark.e2e


def _mapped_xcom(api: Api, dag_id: str, run_id: str, task_id: str, index: int) -> dict:
    quoted = urllib.parse.quote(run_id, safe="")
    body = api.get(
        f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}"
        f"/xcomEntries/return_value?map_index={index}&deserialize=true"
    )
    return body["value"]


@pytest.mark.slurm
def test_reduction_run_defers_on_slurm_jobs_and_the_triggerer_resumes_it(
    api: Api, parsed_dags: dict, slurm_up: None
) -> None:
    dag_id = "chai-ngc253"
    status, run = api.call(
        "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {}}
    )
    assert status == 200, run
    final = api.wait_for_run(dag_id, run["dag_run_id"], timeout=240)
    states = api.task_states(dag_id, run["dag_run_id"])
    assert final["state"] == "success", states
    calibrate = _mapped_xcom(api, dag_id, run["dag_run_id"], "per_executed_obs_unit.calibrate", 0)
    assert calibrate["reused"] is False and calibrate["hpc_job_id"]
    job = subprocess.run(
        ["scontrol", "-o", "show", "job", str(calibrate["hpc_job_id"])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "JobState=COMPLETED" in job and f"dagspec:{dag_id}/" in job


def test_two_runs_of_one_entity_at_once_get_their_own_workspaces(
    api: Api, parsed_dags: dict
) -> None:
    dag_id = "organization-site"
    runs = []
    for _ in range(2):
        status, run = api.call(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            {"logical_date": None, "conf": {"dry_run": True}},
        )
        assert status == 200, run
        runs.append(run["dag_run_id"])
    for run_id in runs:
        assert api.wait_for_run(dag_id, run_id, timeout=240)["state"] == "success"
    workspaces = {api.xcom(dag_id, run_id, "prepare_workspace") for run_id in runs}
    assert len(workspaces) == 2
