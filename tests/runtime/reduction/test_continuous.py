"""CONTINUOUS pipelines: `@continuous` runs that each wait until the grouping's data change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from compiler import api

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.airflow


def _spec(trigger: dict) -> dict:
    spec = yaml.safe_load((ROOT / "specs" / "chai-ngc253.yaml").read_text())
    spec["spec"]["trigger"] = trigger
    return spec


@pytest.mark.parametrize(
    ("trigger", "schedule"),
    [
        ({"type": "CONTINUOUS", "poll_seconds": 30}, 'schedule="@continuous"'),
        ({"type": "CRON", "cron": "0 2 * * *"}, 'schedule="0 2 * * *"'),
        ({"type": "MANUAL"}, "schedule=None"),
    ],
    ids=["continuous", "cron", "manual"],
)
def test_trigger_type_sets_the_schedule(tmp_path: Path, trigger: dict, schedule: str) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "p.yaml").write_text(yaml.safe_dump(_spec(trigger)))
    result = api.compile_project(tmp_path)
    assert result.ok, result.findings
    text = (tmp_path / "generated_dags" / "chai-ngc253.py").read_text()
    assert schedule in text
    assert ("WaitForNewDataOperator(" in text) == (trigger["type"] == "CONTINUOUS")


def test_each_run_waits_until_the_matching_data_change(tmp_path: Path) -> None:
    from airflow.sdk.exceptions import TaskDeferred
    from dagspec_runtime.reduction import WaitForNewDataOperator

    shutil.copytree(ROOT / "examples" / "reduction" / "raw", tmp_path / "raw")
    pipeline = {
        "name": "p",
        "data_grouping": {"name": "g", "catalogue": "raw", "filter_rules": {"source": "NGC253"}},
        "software": {},
    }
    wait = WaitForNewDataOperator(
        task_id="wait_for_new_data",
        pipeline=pipeline,
        poll_seconds=30,
        products_root="products",
        project_root=str(tmp_path),
    )
    first = wait.execute({})
    assert (tmp_path / "products" / "p" / "catalogue.fingerprint").read_text().strip() == first
    with pytest.raises(TaskDeferred):
        wait.execute({})  # nothing new: the run waits
    other = next(p for p in (tmp_path / "raw").iterdir() if "ngc1068" in p.name)
    (other / "package.json").write_text((other / "package.json").read_text() + " ")
    with pytest.raises(TaskDeferred):
        wait.execute({})  # a package that does not match the grouping changed: still waiting
    scan = next(p for p in (tmp_path / "raw").iterdir() if "scan1" in p.name)
    data = next(f for f in scan.iterdir() if f.name != "package.json")
    data.write_bytes(data.read_bytes() + b"\n")
    assert wait.execute_complete({}) != first  # new data: the run goes on


def test_the_filter_rules_param_narrows_the_sub_groups(tmp_path: Path) -> None:
    from dagspec_runtime.reduction import DiscoverSubGroupsOperator

    shutil.copytree(ROOT / "examples" / "reduction" / "raw", tmp_path / "raw")
    pipeline = {
        "name": "p",
        "data_grouping": {"name": "g", "catalogue": "raw", "filter_rules": {"source": "NGC253"}},
        "software": {},
    }
    discover = DiscoverSubGroupsOperator(
        task_id="discover",
        pipeline=pipeline,
        group_by=["executed_obs_unit"],
        project_root=str(tmp_path),
        meta_sqlite_path=str(tmp_path / "meta.sqlite"),
    )
    everything = discover.execute({"params": {}})
    assert sorted(g["key"] for g in everything) == [
        "executed_obs_unit=scan1",
        "executed_obs_unit=scan2",
    ]
    only = discover.execute({"params": {"filter_rules": {"executed_obs_unit": "scan2"}}})
    assert [g["key"] for g in only] == ["executed_obs_unit=scan2"]
