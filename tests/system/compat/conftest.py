"""Fixtures of the compat lanes: an Airflow venv per supported minor with only the runtime
distribution installed, and a venv with only the compiler (see lanes.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lanes
import pytest


@dataclass(frozen=True)
class LaneEnv:
    """A lane ready to run: its python, a migrated Airflow home and a project copy."""

    lane: lanes.Lane
    python: Path
    project: Path  # generated_dags/ with the project files beside it, no plugins/, no specs/
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *args],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def lane_environment(python: Path, home: Path, project: Path) -> dict[str, str]:
    """Airflow's settings for a lane: its own home, the copied DAG folder, an empty plugins
    folder (the runtime must come from the installed distribution)."""
    (home / "plugins").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(project / "generated_dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(home / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        PYTHONWARNINGS="ignore",
        DO_NOT_TRACK="1",
        PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.pop("PYTHONPATH", None)
    return env


def _lane_id(lane: lanes.Lane) -> str:
    return f"airflow-{lane.version}"


@pytest.fixture(scope="session", params=lanes.selected(), ids=_lane_id)
def lane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, runtime_wheel: Path
) -> LaneEnv:
    spec: lanes.Lane = request.param
    python = lanes.airflow_venv(spec)
    lanes.install_runtime(python, runtime_wheel)
    root = tmp_path_factory.mktemp(f"lane-{spec.version}")
    project = root / "project"
    project.mkdir()
    for name in ("generated_dags", "examples"):
        shutil.copytree(
            lanes.ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(lanes.ROOT / "dagspec.yaml", project / "dagspec.yaml")
    env = lane_environment(python, root / "airflow-home", project)
    done = subprocess.run(
        [str(python), "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return LaneEnv(spec, python, project, env)


@pytest.fixture(scope="session")
def runtime_wheel() -> Path:
    return lanes.runtime_wheel()


@pytest.fixture(scope="session")
def compiler_python() -> Iterator[Path]:
    yield lanes.compiler_venv()
