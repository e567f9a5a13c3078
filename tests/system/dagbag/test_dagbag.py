"""The committed generated DAGs load in a real Airflow 3.3 DagBag, shaped like their specs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def bag():  # Airflow's DagBag
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "generated_dags"))


def test_generated_dags_import_without_errors(bag) -> None:
    assert bag.import_errors == {}
    assert {"waste-tracking", "organization-site"} <= set(bag.dag_ids)


def test_one_task_group_per_phase_with_the_modules_inside(bag) -> None:
    dag = bag.dags["waste-tracking"]
    groups = dag.task_group.children
    phases = ["pull", "govern", "compile", "deploy", "register", "support"]
    assert [k for k in groups if k in phases] == phases
    govern = groups["govern"]
    assert sorted(govern.children) == ["govern.gate", "govern.governance", "govern.profile"]
    assert dag.get_task("govern.profile").required is False
    assert dag.get_task("pull.model-pull").command == ["python", "examples/modules/pull.py"]


def test_phases_run_in_order(bag) -> None:
    dag = bag.dags["organization-site"]
    assert dag.get_task("govern.governance").upstream_task_ids == {"pull.gate"}
    assert dag.get_task("promote").upstream_task_ids == {"support.gate"}
    assert dag.schedule is None and dag.catchup is False


def test_trigger_params_come_from_the_project_config(bag) -> None:
    params = bag.dags["waste-tracking"].params
    assert params.get_param("target").schema["enum"] == ["dev", "test", "prod"]
    assert params["dry_run"] is False and params["keep_workspace"] is False


def test_manifest_process_dag_runs_the_gates_in_fail_closed_order(bag) -> None:
    dag = bag.dags["orders-etl.orders"]
    order = [
        "extract",
        "contract",
        "evolution",
        "compatibility",
        "ddl",
        "stage",
        "finalize",
        "evidence",
        "audit",
        "state",
        "publish",
    ]
    assert sorted(dag.task_ids) == sorted(order)
    for before, after in zip(order, order[1:], strict=False):
        assert dag.get_task(after).upstream_task_ids == {before}
    assert dag.get_task("extract").process["contract"]["enforcement"] == "quarantine"


def test_reduction_dag_maps_each_group_by_over_discovered_sub_groups(bag) -> None:
    dag = bag.dags["chai-ngc253"]
    assert set(dag.task_ids) == {
        "register_software",
        "discover_per_executed_obs_unit",
        "discover_all_data",
        "per_executed_obs_unit.calibrate",
        "per_executed_obs_unit.baseline",
        "all_data.grid",
    }
    per_scan = dag.task_group.children["per_executed_obs_unit"]
    assert type(per_scan).__name__ == "MappedTaskGroup"
    assert dag.get_task("per_executed_obs_unit.baseline").upstream_task_ids == {
        "per_executed_obs_unit.calibrate",
        "discover_per_executed_obs_unit",
    }
    grid = dag.get_task("all_data.grid")
    assert "per_executed_obs_unit.baseline" in grid.upstream_task_ids
    calibrate = dag.get_task("per_executed_obs_unit.calibrate")
    assert calibrate.retries == 1 and calibrate.max_active_tis_per_dagrun == 2
    assert calibrate.priority_weight == 10


def test_every_dag_kind_offers_trigger_params(bag) -> None:
    process = bag.dags["orders-etl.orders"].params.get_param("process").schema
    assert process["enum"] == ["orders"] and process["title"] == "Process"
    rules = bag.dags["chai-ngc253"].params.get_param("filter_rules").schema
    assert rules["type"] == ["object", "null"] and rules["title"] == "Extra filter rules"
