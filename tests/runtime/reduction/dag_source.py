"""The hand-written reduction DAG, in exactly the shape the compiler's template emits, as text.

Tests write it into a temporary dags folder (dag.test() only runs DAGs found there), varying
only literals: catalogue, meta database, products root and per-step overrides.
"""

from __future__ import annotations

import copy
import pprint
from typing import Any

PIPELINE: dict[str, Any] = {
    "name": "chai-ngc253",
    "priority": 10,
    "data_grouping": {
        "name": "ngc253-co43",
        "catalogue": "examples/reduction/raw",
        "filter_rules": {"source": "NGC253", "line": ["CO43"]},
    },
    "software": {
        "chai-calibration": {
            "image": "ghcr.io/example/chai-calibration",
            "versions": ["1.0.0", "1.1.0"],
        },
        "chai-baseline": {"image": "ghcr.io/example/chai-baseline", "versions": ["2.0.0"]},
        "chai-gridding": {"image": "ghcr.io/example/chai-gridding", "versions": ["0.9.0"]},
    },
}

_RESOURCES = {"cpu": 1, "memory_gb": 0.25, "time_hours": 0.1, "gpu": 0}
STEPS: dict[str, dict[str, Any]] = {
    "calibrate": {
        "name": "calibrate",
        "software": "chai-calibration",
        "version_policy": "compatible",
        "pinned_version": None,
        "group_by": ["executed_obs_unit"],
        "cooldown_seconds": 0,
        "config": {
            "parameters": {"calibration_mode": "hot_cold"},
            "environment": {"CHAI_BAND": "LFA"},
            "command_template": "python3 examples/reduction/calibrate.py --in {inputs} "
            "--out {output_dir} --mode {parameters[calibration_mode]}",
            "resources": _RESOURCES,
        },
        "max_retries": 0,
        "max_concurrent_runs": 2,
        "depends_on": [],
    },
    "baseline": {
        "name": "baseline",
        "software": "chai-baseline",
        "version_policy": "compatible",
        "pinned_version": None,
        "group_by": ["executed_obs_unit"],
        "cooldown_seconds": 0,
        "config": {
            "parameters": {"window_kms": 150},
            "environment": {},
            "command_template": "python3 examples/reduction/baseline.py --in {inputs} "
            "--out {output_dir} --window-kms {parameters[window_kms]}",
            "resources": _RESOURCES,
        },
        "max_retries": 0,
        "max_concurrent_runs": 2,
        "depends_on": ["calibrate"],
    },
    "grid": {
        "name": "grid",
        "software": "chai-gridding",
        "version_policy": "compatible",
        "pinned_version": None,
        "group_by": [],
        "cooldown_seconds": 0,
        "config": {
            "parameters": {},
            "environment": {},
            "command_template": "python3 examples/reduction/grid.py --in {inputs} "
            "--out {output_dir}",
            "resources": _RESOURCES,
        },
        "max_retries": 0,
        "max_concurrent_runs": 1,
        "depends_on": ["baseline"],
    },
}

_GRID_MAPPED = """
    @task_group(group_id="all_data")
    def all_data(sub_group):
        ReductionStepOperator(
            task_id="grid",
            pipeline=PIPELINE,
            step=STEPS["grid"],
            sub_group=sub_group,
            partition=None,
            account=None,
            retries=STEPS["grid"]["max_retries"],
            max_active_tis_per_dagrun=STEPS["grid"]["max_concurrent_runs"],
            priority_weight=10,
            **STEP_ARGS,
        )

    combined = all_data.expand(sub_group=all_subgroups.output)
"""

_GRID_PLAIN = """
    # group_by [] as a plain task: it takes the discover task's one-element list.
    combined = ReductionStepOperator(
        task_id="grid",
        pipeline=PIPELINE,
        step=STEPS["grid"],
        sub_group=all_subgroups.output,
        partition=None,
        account=None,
        retries=STEPS["grid"]["max_retries"],
        max_active_tis_per_dagrun=STEPS["grid"]["max_concurrent_runs"],
        priority_weight=10,
        **STEP_ARGS,
    )
"""

_BODY = """
with DAG(
    dag_id=DAG_ID,
    schedule=None,
    catchup=False,
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    max_active_runs=1,
) as dag:
    software = RegisterSoftwareOperator(task_id="register_software", pipeline=PIPELINE, **META)
    per_scan_subgroups = DiscoverSubGroupsOperator(
        task_id="discover_per_scan",
        pipeline=PIPELINE,
        group_by=["executed_obs_unit"],
        cooldown_seconds=COOLDOWN,
        **META,
    )

    @task_group(group_id="per_scan")
    def per_scan(sub_group):
        calibrate = ReductionStepOperator(
            task_id="calibrate",
            pipeline=PIPELINE,
            step=STEPS["calibrate"],
            sub_group=sub_group,
            partition=None,
            account=None,
            retries=STEPS["calibrate"]["max_retries"],
            max_active_tis_per_dagrun=STEPS["calibrate"]["max_concurrent_runs"],
            priority_weight=10,
            **STEP_ARGS,
        )
        baseline = ReductionStepOperator(
            task_id="baseline",
            pipeline=PIPELINE,
            step=STEPS["baseline"],
            sub_group=sub_group,
            partition=None,
            account=None,
            retries=STEPS["baseline"]["max_retries"],
            max_active_tis_per_dagrun=STEPS["baseline"]["max_concurrent_runs"],
            priority_weight=10,
            **STEP_ARGS,
        )
        calibrate >> baseline

    scans = per_scan.expand(sub_group=per_scan_subgroups.output)

    all_subgroups = DiscoverSubGroupsOperator(
        task_id="discover_all",
        pipeline=PIPELINE,
        group_by=[],
        cooldown_seconds=COOLDOWN,
        **META,
    )
{GRID}
    software >> per_scan_subgroups
    software >> all_subgroups
    scans >> combined
"""


def reduction_dag(
    dag_id: str,
    *,
    project_root: str,
    catalogue: str,
    meta_sqlite_path: str,
    products_root: str,
    cooldown_seconds: int = 0,
    step_overrides: dict[str, dict[str, Any]] | None = None,
    grid_mapped: bool = True,
) -> str:
    """Source text of the reduction DAG `dag_id`."""
    pipeline = copy.deepcopy(PIPELINE)
    pipeline["data_grouping"]["catalogue"] = catalogue
    steps = copy.deepcopy(STEPS)
    for name, over in (step_overrides or {}).items():
        steps[name].update(over)
    meta = {
        "project_root": project_root,
        "meta_conn_id": "dagspec_meta_reduction_test",  # undefined: the SQLite fallback is used
        "meta_sqlite_path": meta_sqlite_path,
    }
    step_args = {**meta, "products_root": products_root, "poll_interval": 0.5}
    return (
        "# A reduction DAG for the airflow dag processor (tests/runtime/reduction).\n"
        "from datetime import datetime, timezone\n\n"
        "from airflow.sdk import DAG, task_group\n\n"
        "from dagspec_runtime.reduction import (\n"
        "    DiscoverSubGroupsOperator,\n"
        "    ReductionStepOperator,\n"
        "    RegisterSoftwareOperator,\n"
        ")\n\n"
        f"DAG_ID = {dag_id!r}\n"
        f"COOLDOWN = {cooldown_seconds!r}\n"
        f"PIPELINE = {pprint.pformat(pipeline, sort_dicts=False)}\n"
        f"STEPS = {pprint.pformat(steps, sort_dicts=False)}\n"
        f"META = {meta!r}\n"
        f"STEP_ARGS = {step_args!r}\n"
        + _BODY.replace("{GRID}", _GRID_MAPPED if grid_mapped else _GRID_PLAIN)
    )
