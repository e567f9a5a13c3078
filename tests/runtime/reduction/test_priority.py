"""A ReductionPipeline's `priority` reaches every task of its DAG, not only the steps.

Why: the scheduler orders queued tasks by priority_weight; a register or discover task left at
the default 1 waits behind other DAGs' work and holds up the whole high-priority pipeline.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.airflow


def test_every_task_carries_the_pipeline_priority() -> None:
    from airflow.dag_processing.dagbag import DagBag

    spec = yaml.safe_load((ROOT / "specs" / "chai-ngc253.yaml").read_text())
    bag = DagBag(dag_folder=str(ROOT / "generated_dags" / "chai-ngc253.py"))
    assert not bag.import_errors
    dag = bag.dags["chai-ngc253"]
    weights = {task.task_id: task.priority_weight for task in dag.tasks}
    assert set(weights.values()) == {spec["spec"]["priority"]}, weights
    assert {"register_software", "discover_per_executed_obs_unit"} <= weights.keys()
