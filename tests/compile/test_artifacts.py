"""Artifacts across specs: deps/outs wire DAGs together through Airflow Assets.

Layouts from the seed: a parent/child project (a root pipeline produces shared data, a pipeline
in a subfolder consumes it) and siblings (features → model).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler import api
from compiler.findings import Severity

ROOT = Path(__file__).resolve().parents[2]


def entity(
    name: str, module: dict[str, Any], promote: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    phase = module["name"]
    body = {"phases": [{"name": phase, "modules": [module]}], **spec}
    if promote:
        body["promote"] = [{"from": k, "to": v} for k, v in promote.items()]
    return {"apiVersion": "dagspec/v1", "kind": "Entity", "metadata": {"name": name}, "spec": body}


def producer(name: str, to: str) -> dict[str, Any]:
    module = {
        "name": "prepare",
        "command": ["python", "examples/modules/prepare_data.py"],
        "outputs": ["prepare/data.csv"],
    }
    return entity(name, module, {"prepare/data.csv": to})


def consumer(name: str, dep: str, **spec: Any) -> dict[str, Any]:
    command = ["python", "examples/modules/analyze.py", "--data", dep]
    module = {
        "name": "analyze",
        "command": command,
        "deps": [dep],
        "outputs": ["analyze/report.txt"],
    }
    return entity(name, module, {"analyze/report.txt": f"reports/{name}.txt"}, **spec)


def make_project(root: Path, specs: dict[str, dict[str, Any]]) -> Path:
    """A project with the given spec files (path under specs/ → document) and the modules."""
    names = sorted(doc["metadata"]["name"] for doc in specs.values())
    config = {
        "apiVersion": "dagspec/v1",
        "kind": "Project",
        "metadata": {"name": "artifacts"},
        "spec": {"entities": names},
    }
    (root / "dagspec.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "dagspec.yaml").write_text(yaml.safe_dump(config))
    for relative, doc in specs.items():
        path = root / "specs" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    shutil.copytree(ROOT / "examples" / "modules", root / "examples" / "modules")
    return root


PARENT_CHILD = {
    "data-prep.yaml": producer("data-prep", "shared/data.csv"),
    "analysis/analysis.yaml": consumer("analysis", "shared/data.csv"),
}
SIBLINGS = {
    "pipelines/features/features.yaml": producer("features", "pipelines/features/output.csv"),
    "pipelines/model/model.yaml": consumer("model", "pipelines/features/output.csv"),
}


@pytest.mark.parametrize("layout", [PARENT_CHILD, SIBLINGS], ids=["parent-child", "siblings"])
def test_layout_compiles_to_dags_linked_by_an_asset(tmp_path: Path, layout: dict) -> None:
    root = make_project(tmp_path, layout)
    result = api.compile_project(root)
    assert result.ok, result.findings
    producer_name, consumer_name = (doc["metadata"]["name"] for doc in layout.values())
    path = next(iter(layout.values()))["spec"]["promote"][0]["to"]
    produced = (root / "generated_dags" / f"{producer_name}.py").read_text()
    consumed = (root / "generated_dags" / f"{consumer_name}.py").read_text()
    # on one line or split as ruff splits it
    asset = re.compile(rf'Asset\(\s*name="{re.escape(path)}",\s*uri="dagspec://{re.escape(path)}"')
    assert asset.search(produced) and asset.search(consumed)
    assert "outlets=[ASSET_" in produced
    assert "schedule=[ASSET_" in consumed


@pytest.mark.airflow
def test_dagbag_sees_the_producer_outlet_and_the_consumer_schedule(tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    root = make_project(tmp_path, PARENT_CHILD)
    assert api.compile_project(root).ok
    bag = DagBag(dag_folder=str(root / "generated_dags"))
    assert bag.import_errors == {}
    outlets = bag.dags["data-prep"].get_task("promote").outlets
    assert [a.name for a in outlets] == ["shared/data.csv"]
    schedule = bag.dags["analysis"].timetable
    assert "shared/data.csv" in str(schedule.asset_condition)


@pytest.mark.airflow
def test_producer_run_then_consumer_run_moves_data_through_the_file(tmp_path: Path) -> None:
    root = make_project(tmp_path, PARENT_CHILD)
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / ".airflow")}
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)

    def run(name: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "dagspec.cli", "--project", str(root), "run", name]
        return subprocess.run(
            command, env=env, cwd=root, capture_output=True, text=True, timeout=300
        )

    consumer_first = run("analysis")
    assert consumer_first.returncode == 1  # nothing to read yet
    assert run("data-prep").returncode == 0
    assert (root / "shared" / "data.csv").read_text().startswith("id,value")
    done = run("analysis")
    assert done.returncode == 0, done.stdout + done.stderr
    report = (root / "reports" / "analysis.txt").read_text()
    assert report == "Processed 3 records from shared/data.csv, total 600\n"


def test_time_scheduled_consumer_runs_on_its_schedule_or_its_assets(tmp_path: Path) -> None:
    layout = {
        "prep.yaml": producer("prep", "shared/data.csv"),
        "report.yaml": consumer("report", "shared/data.csv", schedule="0 3 * * *"),
    }
    root = make_project(tmp_path, layout)
    assert api.compile_project(root).ok
    text = (root / "generated_dags" / "report.py").read_text()
    schedule = 'schedule=AssetOrTimeSchedule(\n        timetable=CronTriggerTimetable("0 3 * * *"'
    assert schedule in text


def _findings(root: Path, code: str) -> list:
    return [f for f in api.lint(root) if f.code == code]


def test_a_cycle_across_specs_is_reported_with_both_locations(tmp_path: Path) -> None:
    a = consumer("alpha", "beta/out.csv")
    a["spec"]["promote"] = [{"from": "analyze/report.txt", "to": "alpha/out.csv"}]
    b = consumer("beta", "alpha/out.csv")
    b["spec"]["promote"] = [{"from": "analyze/report.txt", "to": "beta/out.csv"}]
    root = make_project(tmp_path, {"alpha.yaml": a, "beta.yaml": b})
    cycles = _findings(root, "DS203")
    assert {f.file for f in cycles} == {"specs/alpha.yaml", "specs/beta.yaml"}
    message = cycles[0].message
    assert "alpha:analyze.analyze (specs/alpha.yaml:" in message
    assert "beta:analyze.analyze (specs/beta.yaml:" in message
    assert not api.compile_project(root).ok


def test_two_producers_of_one_path_name_each_other(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        {
            "one.yaml": producer("one", "shared/data.csv"),
            "two.yaml": producer("two", "shared/data.csv"),
        },
    )
    (double,) = _findings(root, "DS210")
    assert double.file == "specs/two.yaml" and double.path == "spec.promote[0].to"
    assert "one:promote (specs/one.yaml:" in double.message


def test_dangling_dep_is_an_error_and_a_source_file_a_warning(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"lonely.yaml": consumer("lonely", "shared/missing.csv")})
    (dangling,) = _findings(root, "DS202")
    assert dangling.path == "spec.phases[0].modules[0].deps[0]"
    (root / "shared").mkdir()
    (root / "shared" / "missing.csv").write_text("id,value\n")
    (source,) = _findings(root, "DS211")
    assert source.severity is Severity.WARNING
    assert api.compile_project(root).ok


def test_project_graph_draws_an_edge_per_artifact(tmp_path: Path) -> None:
    from dagspec.cli import main

    root = make_project(tmp_path, PARENT_CHILD)
    out = tmp_path / "graph.mmd"
    assert main(["--project", str(root), "graph", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("flowchart LR")
    assert 'n_data_prep -->|"shared/data.csv"| n_analysis' in text


def test_dag_graph_as_png_and_dot(tmp_path: Path) -> None:
    from dagspec.cli import main

    root = make_project(tmp_path, PARENT_CHILD)
    picture = tmp_path / "analysis.png"
    assert (
        main(["--project", str(root), "graph", "analysis", "--format", "png", "-o", str(picture)])
        == 0
    )
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = tmp_path / "analysis.dot"
    assert (
        main(["--project", str(root), "graph", "analysis", "--format", "dot", "-o", str(dot)]) == 0
    )
    assert "subgraph cluster_n_analyze" in dot.read_text()


def test_compile_only_takes_the_spec_and_its_producers(tmp_path: Path) -> None:
    layout = {**PARENT_CHILD, "other.yaml": producer("other", "elsewhere/x.csv")}
    root = make_project(tmp_path, layout)
    result = api.compile_project(root, only="analysis")
    assert result.ok, result.findings
    assert sorted(p.name for p in (root / "generated_dags").glob("*.py")) == [
        "analysis.py",
        "data-prep.py",
    ]
    assert api.compile_project(root).ok
    again = api.compile_project(root, only="data-prep")
    assert again.plan is not None and again.plan.removed == []
    assert (root / "generated_dags" / "other.py").exists()
