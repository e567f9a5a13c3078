"""`dagspec init` starts a project that lints, compiles, imports in Airflow and runs, clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow
BIN = Path(sys.executable).parent


def dagspec(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(cwd / ".airflow"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    return subprocess.run(
        [sys.executable, "-m", "dagspec.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("init")
    done = dagspec(parent, "init", "my-project")
    assert done.returncode == 0, done.stdout + done.stderr
    return parent / "my-project"


def test_init_writes_one_spec_of_each_kind_with_the_schema_line(project: Path) -> None:
    kinds = {}
    for spec in sorted((project / "specs").glob("*.yaml")):
        first, *rest = spec.read_text().splitlines()
        schema = first.removeprefix("# yaml-language-server: $schema=")
        assert schema != first and (spec.parent / schema).is_file(), spec
        kinds[next(line.split(": ")[1] for line in rest if line.startswith("kind:"))] = spec
    assert set(kinds) == {"Entity", "Manifest", "ReductionPipeline"}
    assert "my-project" in (project / "dagspec.yaml").read_text()
    assert (project / ".pre-commit-config.yaml").is_file()


def test_lint_and_compile_are_clean_right_after(project: Path) -> None:
    lint = dagspec(project, "lint", "--format", "json")
    assert lint.returncode == 0 and json.loads(lint.stdout) == [], lint.stdout
    done = dagspec(project, "compile")
    assert done.returncode == 0, done.stdout + done.stderr
    make = subprocess.run(
        ["make", "test"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )
    assert make.returncode == 0, make.stdout + make.stderr


def test_the_generated_dags_import_in_airflow(project: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dagspec(project, "compile")
    bag = DagBag(dag_folder=str(project / "generated_dags"))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"example-entity", "example-etl.orders", "example-reduction"}


def test_the_example_entity_runs(project: Path) -> None:
    done = dagspec(project, "run", "example-entity")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((project / "models/example-entity/data.json").read_text())["ok"] is True


def test_init_never_overwrites(project: Path) -> None:
    before = (project / "dagspec.yaml").read_bytes()
    done = dagspec(project, "init")
    assert done.returncode == 2 and "already exists" in done.stderr
    assert (project / "dagspec.yaml").read_bytes() == before


def test_the_defaults_suit_a_first_run(project: Path) -> None:
    """No retries by default: a first run that fails says so at once, not minutes later."""
    import yaml

    defaults = yaml.safe_load((project / "dagspec.yaml").read_text())["spec"]["defaults"]
    assert defaults.get("retries", 0) == 0
    assert defaults.get("retry_delay_seconds", 0) <= 10
