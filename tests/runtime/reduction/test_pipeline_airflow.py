"""The reduction DAG (the template's shape) through real Airflow dag.test() and real Slurm.

One module-scoped sequence of runs over one meta database, because version policy is about
what earlier runs left behind:
  run 1 compatible          → 5 jobs (calibrate ×2, baseline ×2, grid ×1), version 1.1.0
  run 2 compatible          → 0 jobs, everything reused
  run 3 calibrate exact 1.0.0 → 4 jobs: calibrate at 1.0.0; baseline's input bytes changed
                              (new version header), grid's did not (identical baselined data)
  run 4 same as run 3       → 0 jobs, the 1.0.0 results count
  run 5 compatible again    → 0 jobs, run 1's 1.1.0 results (the latest version's) are reused
  run 6 like run 5, grid as a plain (unmapped) task taking discover_all's list → same results
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import DagRunResult, ReductionEnv, slurm_jobs_of

pytestmark = [pytest.mark.slurm, pytest.mark.airflow]

STEP_TASKS = ("per_scan.calibrate", "per_scan.baseline", "all_data.grid")
EXACT_1_0 = {"calibrate": {"version_policy": "exact", "pinned_version": "1.0.0"}}


@pytest.fixture(scope="module")
def run1(run_reduction: Callable[..., DagRunResult]) -> DagRunResult:
    return run_reduction("reduction_run1")


@pytest.fixture(scope="module")
def run2(run1: DagRunResult, run_reduction: Callable[..., DagRunResult]) -> DagRunResult:
    return run_reduction("reduction_run2")


@pytest.fixture(scope="module")
def run3(run2: DagRunResult, run_reduction: Callable[..., DagRunResult]) -> DagRunResult:
    return run_reduction("reduction_run3", step_overrides=EXACT_1_0)


@pytest.fixture(scope="module")
def run4(run3: DagRunResult, run_reduction: Callable[..., DagRunResult]) -> DagRunResult:
    return run_reduction("reduction_run4", step_overrides=EXACT_1_0)


@pytest.fixture(scope="module")
def run5(run4: DagRunResult, run_reduction: Callable[..., DagRunResult]) -> DagRunResult:
    return run_reduction("reduction_run5")


def _step_results(run: DagRunResult) -> list[dict]:
    return [t.result for task_id in STEP_TASKS for t in run.of(task_id)]


def test_group_by_maps_one_task_per_scan_and_chains_within_the_scan(run1: DagRunResult) -> None:
    assert run1.state == "success", [(t.task_id, t.map_index, t.state) for t in run1.tasks]
    calibrate, baseline = run1.of("per_scan.calibrate"), run1.of("per_scan.baseline")
    assert [t.map_index for t in calibrate] == [0, 1] == [t.map_index for t in baseline]
    keys = [t.result["sub_group_key"] for t in calibrate]
    assert keys == ["executed_obs_unit=scan1", "executed_obs_unit=scan2"]
    for cal, base in zip(calibrate, baseline, strict=True):
        assert base.result["sub_group_key"] == cal.result["sub_group_key"]
        assert base.start and cal.end and base.start >= cal.end
        # Baseline read exactly its own scan's calibrated file.
        cal_files = {o["path"] for o in cal.result["outputs"] if o["type"] == "INTERMEDIATE"}
        log = Path(base.result["output_dir"]) / "logs" / "baseline.log"
        assert {line.split(" ", 1)[1] for line in log.read_text().splitlines()[:-1]} == cal_files


def test_grid_sees_both_scans(run1: DagRunResult) -> None:
    (grid,) = run1.of("all_data.grid")
    assert grid.result["sub_group_key"] == "all"
    assert grid.start and all(t.end and grid.start >= t.end for t in run1.of("per_scan.baseline"))
    stats = json.loads((Path(grid.result["output_dir"]) / "statistics" / "grid.json").read_text())
    assert stats["scans"] == ["scan1", "scan2"] and stats["inputs"] == 2
    assert stats["software_version"] == "0.9.0"


def test_every_step_ran_as_a_slurm_job(run1: DagRunResult) -> None:
    results = _step_results(run1)
    assert len(results) == 5 and not any(r["reused"] for r in results)
    assert sorted(r["hpc_job_id"] for r in results) == sorted(slurm_jobs_of(run1.dag_id))
    assert {(r["step"], r["software_version"]) for r in results} == {
        ("calibrate", "1.1.0"),
        ("baseline", "2.0.0"),
        ("grid", "0.9.0"),
    }


def test_outputs_are_typed_data_products_with_lineage(
    run1: DagRunResult, reduction_env: ReductionEnv
) -> None:
    steps = reduction_env.rows("SELECT * FROM executed_reduction_step ORDER BY id")
    assert [(s["step"], s["status"]) for s in steps].count(("calibrate", "COMPLETED")) == 2
    for s in steps:
        assert s["execution_command"].startswith("sbatch --parsable --comment=dagspec:")
        assert s["processing_time_s"] is not None and s["cpu_hours"] is not None
    products = reduction_env.rows(
        "SELECT e.step, d.data_product_type AS type, d.file_path, d.file_size, d.checksum "
        "FROM data_product d JOIN executed_reduction_step e "
        "ON e.id = d.executed_reduction_step_id"
    )
    types = {(p["step"], p["type"]) for p in products}
    assert {
        ("calibrate", "INTERMEDIATE"),
        ("calibrate", "QA_METRIC"),
        ("calibrate", "LOG"),
    } <= types
    assert {("baseline", "STATISTICS"), ("baseline", "PLOT"), ("grid", "SCIENCE")} <= types
    for p in products:
        assert Path(p["file_path"]).stat().st_size == p["file_size"] and len(p["checksum"]) == 64
    (grid,) = run1.of("all_data.grid")
    cube = next(o for o in grid.result["outputs"] if o["path"].endswith("science/cube.csv"))
    lineage = reduction_env.rows(
        "SELECT l.raw_data_package_id, p.file_path AS parent, r.name AS raw "
        "FROM data_product_lineage l "
        "LEFT JOIN data_product p ON p.id = l.parent_data_product_id "
        "LEFT JOIN raw_data_package r ON r.id = l.raw_data_package_id "
        "WHERE l.data_product_id = :id",
        id=cube["id"],
    )
    assert sorted(r["raw"] for r in lineage if r["raw"]) == [
        "ngc253_co43_scan1",
        "ngc253_co43_scan2",
    ]
    parents = sorted(r["parent"] for r in lineage if r["parent"])
    assert len(parents) == 2 and all(p.endswith("intermediate/baselined.csv") for p in parents)


def test_the_non_matching_package_is_never_used(
    run1: DagRunResult, reduction_env: ReductionEnv
) -> None:
    assert [r["name"] for r in reduction_env.rows("SELECT name FROM raw_data_package")] == [
        "ngc253_co43_scan1",
        "ngc253_co43_scan2",
    ]
    for row in reduction_env.rows("SELECT command FROM executed_reduction_step"):
        assert "ngc1068" not in row["command"]
    for task_id in ("discover_per_scan", "discover_all"):
        (discover,) = run1.of(task_id)
        names = [p["name"] for g in discover.result for p in g["packages"]]
        assert "ngc1068_co43_scan3" not in names and len(names) == 2


def test_second_compatible_run_reuses_everything(
    run2: DagRunResult, reduction_env: ReductionEnv
) -> None:
    assert run2.state == "success"
    results = _step_results(run2)
    assert len(results) == 5 and all(r["reused"] for r in results)
    assert slurm_jobs_of(run2.dag_id) == []
    assert len(reduction_env.rows("SELECT id FROM executed_reduction_step")) == 5


def test_exact_pin_recomputes_with_the_pinned_version(
    run1: DagRunResult, run3: DagRunResult, reduction_env: ReductionEnv
) -> None:
    assert run3.state == "success"
    results = _step_results(run3)
    assert [r["step"] for r in results if r["reused"]] == ["grid"]
    assert len(slurm_jobs_of(run3.dag_id)) == 4
    assert [t.result["software_version"] for t in run3.of("per_scan.calibrate")] == ["1.0.0"] * 2
    rows = reduction_env.rows(
        "SELECT step, software_version, version_policy FROM executed_reduction_step "
        "WHERE run_id IN (SELECT run_id FROM executed_reduction_step WHERE dag_id = :d)",
        d=run3.dag_id,
    )
    assert ("calibrate", "1.0.0", "exact") in {tuple(r.values()) for r in rows}
    # Calibration 1.0.0 wrote other bytes (its version header), so baseline's inputs changed
    # and it ran again; its output bytes did not change, so grid's inputs are unchanged and the
    # grid result of run 1 still counts: reuse follows content, not the run.
    old = {(r["step"], r["sub_group_key"]): r for r in _step_results(run1)}
    for r in results:
        before = old[(r["step"], r["sub_group_key"])]
        changed = r["input_fingerprint"] != before["input_fingerprint"]
        assert changed == (r["step"] == "baseline")
    (grid,) = run3.of("all_data.grid")
    assert grid.result["executed_step_id"] == old[("grid", "all")]["executed_step_id"]
    assert len(reduction_env.rows("SELECT id FROM executed_reduction_step")) == 9


def test_unchanged_pin_reuses_the_pinned_results(run3: DagRunResult, run4: DagRunResult) -> None:
    assert run4.state == "success"
    results = _step_results(run4)
    assert all(r["reused"] for r in results)
    assert slurm_jobs_of(run4.dag_id) == []
    assert {r["executed_step_id"] for r in results} == {
        r["executed_step_id"] for r in _step_results(run3)
    }


def test_back_to_compatible_prefers_the_latest_versions_results(
    run1: DagRunResult, run5: DagRunResult
) -> None:
    assert run5.state == "success"
    assert slurm_jobs_of(run5.dag_id) == []
    results = _step_results(run5)
    assert all(r["reused"] for r in results)
    assert [r["executed_step_id"] for r in results] == [
        r["executed_step_id"] for r in _step_results(run1)
    ]


def test_grid_as_a_plain_task_takes_the_one_element_list(
    run5: DagRunResult, run_reduction: Callable[..., DagRunResult]
) -> None:
    run6 = run_reduction("reduction_run6", grid_mapped=False)
    assert run6.state == "success"
    (grid,) = run6.of("grid")
    assert grid.map_index == -1 and grid.result["reused"]
    (before,) = run5.of("all_data.grid")
    assert grid.result["executed_step_id"] == before.result["executed_step_id"]
