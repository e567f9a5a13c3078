"""Bookkeeping tasks are safe to retry: a failed entity run's `pipeline_result` is recorded
before its workspace is removed, is not retried in vain, and a retry after the removal (a worker
killed between the two) gives the recorded result, not "StorageUnavailable"."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from dagspec_runtime.entity.result import finish_run
from dagspec_runtime.errors import StepFailed

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, copy_project: Callable[[Path], Path]) -> Path:
    return copy_project(tmp_path_factory.mktemp("bookkeeping"))


def test_a_retried_pipeline_result_of_a_failed_run_gives_the_right_report(project: Path) -> None:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(project / ".airflow"),
        "RDT_WORKSPACE_DIR": str(project / "ws"),
        "DAGSPEC_EXAMPLE_FAIL": "bronze-sql",
    }
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    argv = [sys.executable, "-m", "dagspec.cli", "--project", str(project), "run"]
    argv += ["organization-site", "--retry-attempts", "1", "--retry-backoff-seconds", "0"]
    done = subprocess.run(
        [*argv, "--format", "json"], env=env, cwd=project, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["pipeline_result"]["status"] == "error", report
    result_task = next(t for t in report["tasks"] if t["task_id"] == "pipeline_result")
    assert result_task["attempts"] == 1, result_task  # the verdict is final: no retry
    assert "StorageUnavailable" not in done.stderr
    recorded = json.loads((project / "models/organization-site/pipeline-result.json").read_text())
    assert not Path(recorded["workspace"]).exists()  # removed, after the result was recorded

    # a retry after the workspace was removed (its worker died just then) reads the record
    with pytest.raises(StepFailed) as failed:
        finish_run(
            workspace=recorded["workspace"],
            run_id=recorded["airflow_run_id"],
            params={"target": "dev"},
            entity="organization-site",
            phases={},
            project_root=str(project),
            log=logging.getLogger("test"),
        )
    assert failed.value.value == recorded and failed.value.retry is False
