"""Discovery through dag.test(): the cooldown wait, and an empty grouping skipping its steps."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import ROOT, SESSION, DagRunResult, ReductionEnv, copy_catalogue, run_dag_file

pytestmark = [pytest.mark.slurm, pytest.mark.airflow]

COOLDOWN_S = 4


def _discover_dag(dag_id: str, catalogue: Path, meta: Path, cooldown: int) -> str:
    pipeline = {
        "name": "chai-ngc253",
        "data_grouping": {
            "name": "ngc253-co43",
            "catalogue": str(catalogue),
            "filter_rules": {"source": "NGC253", "line": "CO43"},
        },
    }
    return (
        "# A one-task discovery DAG for the airflow dag processor (tests/runtime/reduction).\n"
        "from datetime import datetime, timezone\n\n"
        "from airflow.sdk import DAG\n\n"
        "from dagspec_runtime.reduction import DiscoverSubGroupsOperator\n\n"
        f"with DAG(dag_id={dag_id!r}, schedule=None, catchup=False,\n"
        "         start_date=datetime(2025, 1, 1, tzinfo=timezone.utc)) as dag:\n"
        "    DiscoverSubGroupsOperator(\n"
        "        task_id='discover_per_scan',\n"
        f"        pipeline={pipeline!r},\n"
        "        group_by=['executed_obs_unit'],\n"
        f"        cooldown_seconds={cooldown!r},\n"
        f"        project_root={str(ROOT)!r},\n"
        "        meta_conn_id=None,\n"
        f"        meta_sqlite_path={str(meta)!r},\n"
        "    )\n"
    )


WAITING = re.compile(r"cooldown \d+ s: waiting [\d.]+ s")


def test_recently_changed_input_waits_out_the_cooldown(
    reduction_env: ReductionEnv, tmp_path: Path
) -> None:
    catalogue = copy_catalogue(tmp_path / "raw")
    os.utime(catalogue / "ngc253_co43_scan2" / "spectra.csv")  # just arrived
    touched = time.time()
    run = run_dag_file(
        reduction_env.dags / f"cooldown_{SESSION}.py",
        _discover_dag(f"cooldown_{SESSION}", catalogue, tmp_path / "meta.sqlite", COOLDOWN_S),
    )
    (task,) = run.of("discover_per_scan")
    assert task.state == "success"
    assert time.time() - touched >= COOLDOWN_S
    assert task.end and task.start and (task.end - task.start).total_seconds() >= COOLDOWN_S - 1
    assert [g["key"] for g in task.result] == [
        "executed_obs_unit=scan1",
        "executed_obs_unit=scan2",
    ]


def test_quiet_inputs_do_not_wait(
    reduction_env: ReductionEnv, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Shown by the task never deferring (no cooldown line), not by its wall time, which a busy
    machine stretches."""
    catalogue = copy_catalogue(tmp_path / "raw")
    run = run_dag_file(
        reduction_env.dags / f"quiet_{SESSION}.py",
        _discover_dag(f"quiet_{SESSION}", catalogue, tmp_path / "meta.sqlite", 3600),
    )
    (task,) = run.of("discover_per_scan")
    assert task.state == "success" and len(task.result) == 2
    log = capfd.readouterr()
    text = log.out + log.err
    assert "2 raw package(s) match" in text
    assert not WAITING.search(text), text


def test_no_matching_data_skips_the_steps(
    run_reduction: Callable[..., DagRunResult], tmp_path: Path
) -> None:
    catalogue = copy_catalogue(tmp_path / "raw")
    for name in ("ngc253_co43_scan1", "ngc253_co43_scan2"):
        (catalogue / name / "package.json").unlink()
    run = run_reduction("reduction_empty", catalogue=catalogue)
    assert run.state == "success"
    assert run.of("discover_per_scan")[0].result == []
    assert run.of("discover_all")[0].result == []
    step_states = {t.state for t in run.tasks if t.task_id.startswith(("per_scan.", "all_data."))}
    assert step_states == {"skipped"}
