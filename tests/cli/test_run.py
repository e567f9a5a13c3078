"""`dagspec run` end to end: compile a copy of the example project and run its DAGs for real."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, copy_project: Callable[[Path], Path]) -> Path:
    """The example project (config, specs, example programs and data) in a temp folder."""
    return copy_project(tmp_path_factory.mktemp("example"))


def dagspec(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIRFLOW_HOME": str(project / ".airflow")}
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    command = [sys.executable, "-m", "dagspec.cli", "--project", str(project), *args]
    return subprocess.run(
        command, env=env, cwd=project, capture_output=True, text=True, timeout=300
    )


def test_entity_run_promotes_and_prints_a_result_table(project: Path) -> None:
    done = dagspec(project, "run", "specs/waste-tracking.yaml", "--target", "test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "entity waste-tracking  status ok  target test" in done.stdout
    result = json.loads((project / "models/waste-tracking/pipeline-result.json").read_text())
    assert result["status"] == "ok" and result["promoted"] is True
    assert (
        "CREATE TABLE IF NOT EXISTS bronze.waste_tracking"
        in (project / "snowflake/ddl/waste-tracking.sql").read_text()
    )


def test_entity_dry_run_touches_nothing_in_the_project(project: Path) -> None:
    done = dagspec(project, "run", "organization-site", "--dry-run", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout[done.stdout.index("{") :])
    assert report["state"] == "success"
    assert report["pipeline_result"]["dry_run"] is True
    assert not (project / "models" / "organization-site").exists()


def test_failing_required_module_exits_1(project: Path) -> None:
    os.environ["DAGSPEC_EXAMPLE_FAIL"] = "bronze-sql,datacontract"
    try:
        done = dagspec(project, "run", "organization-site", "--format", "markdown")
    finally:
        del os.environ["DAGSPEC_EXAMPLE_FAIL"]
    assert done.returncode == 1
    assert "Pipeline status **error**, promoted: no" in done.stdout


def test_bad_target_is_a_config_error_exit_2(project: Path) -> None:
    done = dagspec(project, "run", "waste-tracking", "--target", "staging")
    assert done.returncode == 2
    assert "target" in done.stderr


def test_manifest_run_by_selector_loads_good_rows_and_quarantines_bad_ones(project: Path) -> None:
    done = dagspec(project, "run", "specs/orders-etl.yaml", "--selector", "orders")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "process orders: success  attempts 1/3  inserted 7  quarantined 3" in done.stdout
    assert "evidence: " in done.stdout and "data_contract_evidence.json" in done.stdout
    with sqlite3.connect(project / "var" / "meta.sqlite") as db:
        assert db.execute("select count(*) from orders").fetchone()[0] == 7
        assert db.execute("select count(*) from ingestion_log").fetchone()[0] == 2
    quarantined = "".join(p.read_text() for p in (project / "var/quarantine").rglob("*.csv"))
    assert "1003" in quarantined and "1005" in quarantined and "2002" in quarantined


def test_unknown_selector_names_the_choices(project: Path) -> None:
    done = dagspec(project, "run", "specs/orders-etl.yaml", "--selector", "ordrs")
    assert done.returncode == 2
    assert "orders-etl.orders" in done.stderr


@pytest.mark.slurm
def test_reduction_run_submits_slurm_jobs_and_records_products(
    project: Path, slurm_up: None
) -> None:
    spec = project / "specs" / "chai-ngc253.yaml"
    spec.write_text(re.sub(r"cooldown_seconds: \d+", "cooldown_seconds: 0", spec.read_text()))
    done = dagspec(project, "run", "chai-ngc253", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout[done.stdout.index("{") :])
    states = {t["task_id"]: t["state"] for t in report["tasks"]}
    assert states["all_data.grid"] == "success"
    with sqlite3.connect(project / "var" / "meta.sqlite") as db:
        steps = db.execute(
            "select step, sub_group_key, hpc_job_id from executed_reduction_step"
            " order by step, sub_group_key"
        ).fetchall()
        kinds = {row[0] for row in db.execute("select data_product_type from data_product")}
    assert [(s, k) for s, k, _ in steps] == [
        ("baseline", "executed_obs_unit=scan1"),
        ("baseline", "executed_obs_unit=scan2"),
        ("calibrate", "executed_obs_unit=scan1"),
        ("calibrate", "executed_obs_unit=scan2"),
        ("grid", "all"),
    ]
    assert all(job for _, _, job in steps)
    assert {"SCIENCE", "LOG"} <= kinds


def test_entity_output_feeds_the_manifest_that_depends_on_it(project: Path) -> None:
    assert dagspec(project, "run", "waste-tracking").returncode == 0
    landing = project / "landing" / "waste-tracking" / "records.jsonl"
    assert "contact_email" not in landing.read_text()  # PII stays behind
    done = dagspec(project, "run", "waste-etl")
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(project / "var" / "meta.sqlite") as db:
        assert db.execute("select count(*) from waste_records").fetchone()[0] == 5
        categories = db.execute("select count(*) from waste_by_category").fetchone()[0]
    assert categories >= 1
