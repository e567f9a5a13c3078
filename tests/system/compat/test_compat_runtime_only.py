"""An Airflow image with only the runtime distribution runs what dagspec compiled.

Each lane is a venv with one Airflow release and ``dagspec-runtime`` installed from runtime/
(no compiler, no ``plugins/`` folder): every example DAG imports in a DagBag, Airflow lists the
provider, and one DAG of each kind runs to success with ``dag.test()`` (the reduction pipeline's
steps as real jobs on the test Slurm cluster, its products written in the project copy).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.schemas import KIND_FILES

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.airflow

# One example DAG per spec kind, run with dag.test().
RUN_PER_KIND = {
    "Entity": "organization-site",
    "Manifest": "orders-etl.orders",
    "ReductionPipeline": "chai-ngc253",
}
NEEDS_SLURM = {"ReductionPipeline"}

PROBE = """
import importlib.util, json
from dagspec_runtime.airflow_compat import dag_bag
from airflow.providers_manager import ProvidersManager

bag = dag_bag()(dag_folder="generated_dags")
manager = ProvidersManager()
info = manager.providers.get("dagspec-runtime")
print(json.dumps({
    "absent": [m for m in ("compiler", "dagspec") if importlib.util.find_spec(m)],
    "errors": {k: v[-400:] for k, v in bag.import_errors.items()},
    "dag_ids": sorted(bag.dag_ids),
    "provider": info.data if info else None,
    "notifications": sorted(n for n in manager.notification if n.startswith("dagspec_runtime")),
}))
"""


def test_every_kind_of_spec_has_a_lane_check() -> None:
    kinds = set(KIND_FILES) - {"Project"}
    assert kinds == set(RUN_PER_KIND)


def test_every_example_dag_imports_and_the_provider_is_listed(lane) -> None:
    done = lane.run("-c", PROBE)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["absent"] == [], "the lane must hold the runtime only, not the compiler"
    assert seen["errors"] == {}
    expected = sorted(p.stem for p in (ROOT / "generated_dags").glob("*.py"))
    assert seen["dag_ids"] == expected
    provider = seen["provider"]
    assert provider is not None, "Airflow does not list the dagspec-runtime provider"
    modules = provider["operators"][0]["python-modules"]
    assert "dagspec_runtime.entity.operators" in modules
    assert seen["notifications"] == ["dagspec_runtime.notify.Callback"]


@pytest.mark.parametrize(
    "kind",
    [pytest.param(k, marks=[pytest.mark.slurm] if k in NEEDS_SLURM else []) for k in RUN_PER_KIND],
)
def test_one_dag_of_each_kind_runs_with_dag_test(
    lane, kind: str, request: pytest.FixtureRequest
) -> None:
    if not lane.lane.dag_test:
        pytest.skip(f"Airflow {lane.lane.version}: {lane.lane.note}")
    if kind in NEEDS_SLURM:
        request.getfixturevalue("slurm_up")
    dag_id = RUN_PER_KIND[kind]
    done = lane.run(
        "-m",
        "dagspec_runtime.local_run",
        f"generated_dags/{dag_id}.py",
        "--conf",
        '{"target": "test"}' if kind == "Entity" else "{}",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "success" in done.stdout
    if kind in NEEDS_SLURM:
        products = lane.project / "var" / "reduction" / dag_id
        for step in ("calibrate", "baseline", "grid"):
            logs = sorted(products.glob(f"{step}/*/*/*/logs/slurm-*.out"))
            assert logs, f"no Slurm job of step {step} left its output in {products}"
        assert list(products.glob("grid/all/*/*/science/cube.csv")), "the grid's cube is missing"
