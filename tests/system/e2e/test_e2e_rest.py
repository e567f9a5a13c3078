"""Trigger the entity DAG through the REST API of a real running Airflow.

Why: DagBag and dag.test() cannot show that the scheduler, the LocalExecutor workers and the
params validation of a real deployment accept what dagspec generates.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from .conftest import ROOT, Api, Stack

pytestmark = pytest.mark.e2e

DAG_ID = "waste-tracking"
TRIGGER = f"/api/v2/dags/{DAG_ID}/dagRuns"


def test_generated_dags_parse_without_errors(parsed_dags: dict[str, dict]) -> None:
    """Every generated DAG is in the running Airflow, unpaused; importErrors is empty."""
    assert DAG_ID in parsed_dags


def test_dry_run_trigger_succeeds(api: Api, airflow_stack: Stack, parsed_dags: dict) -> None:
    """A dry run through POST dagRuns succeeds and leaves its result only in XCom and logs."""
    status, run = api.call(
        "POST", TRIGGER, {"logical_date": None, "conf": {"target": "dev", "dry_run": True}}
    )
    assert status == 200, f"trigger refused: {status} {run}"
    run_id = run["dag_run_id"]
    final = api.wait_for_run(DAG_ID, run_id)
    result = api.xcom(DAG_ID, run_id, "pipeline_result")
    assert final["state"] == "success", (
        f"run {run_id} {final['state']}; tasks {api.task_states(DAG_ID, run_id)}; "
        f"result {json.dumps(result, indent=1)}"
    )
    assert result["airflow_run_id"] == run_id  # the run's own id is its UUIDv7
    assert uuid.UUID(result["run_id"]).version == 7
    assert result["entity"] == DAG_ID
    assert result["target"] == "dev"
    assert result["dry_run"] is True
    assert result["status"] in ("ok", "warning")
    assert result["promoted"] is False
    assert [phase["name"] for phase in result["phases"]] == [
        "pull",
        "govern",
        "compile",
        "deploy",
        "register",
        "support",
    ]
    # The workspace lived under RDT_WORKSPACE_DIR and was removed (keep_workspace is false).
    workspace = Path(result["workspace"])
    assert workspace.parent == airflow_stack.home / "workspaces"
    assert not workspace.exists()
    # A dry run writes no pipeline-result.json into the project.
    project_result = ROOT / "models" / DAG_ID / "pipeline-result.json"
    if project_result.exists():
        assert json.loads(project_result.read_text()).get("run_id") != run_id


def test_invalid_target_is_refused_before_any_run(api: Api, parsed_dags: dict) -> None:
    """A target outside the enum answers 400 and creates no run."""
    before = api.run_ids(DAG_ID)
    status, body = api.call("POST", TRIGGER, {"logical_date": None, "conf": {"target": "nope"}})
    assert status == 400, f"expected 400, got {status} {body}"
    assert "target" in json.dumps(body)
    assert api.run_ids(DAG_ID) == before
