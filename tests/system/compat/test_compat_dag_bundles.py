"""The generated folder as part of a DAG bundle, with the project files beside it.

A local git repository holds what a team commits (generated_dags/, the module programs and the
landing data under examples/, dagspec.yaml); Airflow's GitDagBundle clones it, every DAG imports
from the clone, and the manifest DAG runs with dag.test() reading its CSV drops from the files
beside the DAG folder in the clone. LocalDagBundle over a plain copy imports the same DAGs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.airflow
PROJECT_FILES = ("generated_dags", "examples", "dagspec.yaml")

LOAD = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
kind, source = sys.argv[1], sys.argv[2]
if kind == "git":
    from airflow.providers.git.bundles.git import GitDagBundle
    bundle = GitDagBundle(
        name="team", tracking_ref="main", repo_url=source, subdir="generated_dags"
    )
else:
    from airflow.dag_processing.bundles.local import LocalDagBundle
    bundle = LocalDagBundle(name="team", path=source)
bundle.initialize()
bag = DagBag(dag_folder=str(bundle.path))
version = bundle.get_current_version()  # a commit id (3.3: a BundleVersion holding it)
print(json.dumps({"path": str(bundle.path), "version": getattr(version, "version", version),
                  "errors": bag.import_errors, "dag_ids": sorted(bag.dag_ids)}))
"""


def copy_project(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / name)
    return target


def load(kind: str, source: Path, tmp_path: Path) -> tuple[dict, dict[str, str]]:
    env = {
        **os.environ,
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(tmp_path / "bundles"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore",
    }
    done = subprocess.run(
        [sys.executable, "-c", LOAD, kind, str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), env


def expected_dag_ids() -> list[str]:
    return sorted(p.stem for p in (ROOT / "generated_dags").glob("*.py"))


def test_git_dag_bundle_imports_and_runs_from_its_clone(tmp_path: Path, airflow_db) -> None:
    repo = copy_project(tmp_path / "team-repo")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "dags"], cwd=repo, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()

    seen, env = load("git", repo, tmp_path)
    assert seen["version"] == head
    assert seen["errors"] == {}
    assert seen["dag_ids"] == expected_dag_ids()
    clone = Path(seen["path"])
    assert clone.is_relative_to(tmp_path / "bundles") and (clone.parent / "examples").is_dir()

    done = subprocess.run(
        [sys.executable, "-m", "dagspec_runtime.local_run", str(clone / "orders-etl.orders.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "process orders: success" in done.stdout
    assert (clone.parent / "var" / "evidence" / "orders").is_dir()  # beside the DAG folder
    assert not (tmp_path / "var").exists()


def test_local_dag_bundle_imports_every_dag(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "team")
    seen, _ = load("local", project / "generated_dags", tmp_path)
    assert seen["errors"] == {}
    assert seen["dag_ids"] == expected_dag_ids()
