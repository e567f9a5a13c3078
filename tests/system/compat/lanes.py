"""Venvs for the compat lanes: one Airflow release each, plus the runtime distribution only.

A lane's venv lives under ``.venv-compat/airflow-VERSION`` and is reused while its pinned
requirements (``constraints-airflow-VERSION.txt`` here) stay the same: only the first run pays
for the install (about 2 minutes). The runtime (``runtime/``) is reinstalled from the working
tree on every session, without its dependencies and without the compiler, so the lane proves
what an Airflow image with ``pip install dagspec-runtime`` runs.

``DAGSPEC_COMPAT`` picks the lanes: unset or ``oldest`` the oldest minor that runs
``dag.test()`` (what ``make test`` runs), ``all`` every lane, else a comma list of minors
(``3.1,3.3``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
CACHE = ROOT / ".venv-compat"
PROJECT_AIRFLOW = "3.3.2"  # pyproject.toml's `airflow` extra


@dataclass(frozen=True)
class Lane:
    """One supported Airflow minor: the release tested and what runs on it."""

    minor: str
    version: str
    dag_test: bool = True  # False: DagBag imports only (a known dag.test bug of that release)
    note: str = ""

    @property
    def constraints(self) -> Path:
        """The lane's pins: the project's own for the release it is built on, else a freeze
        of the lane's venv kept here."""
        if self.version == PROJECT_AIRFLOW:
            return ROOT / "constraints.txt"
        return HERE / f"constraints-airflow-{self.version}.txt"


LANES = {
    lane.minor: lane
    for lane in (
        Lane(
            "3.0",
            "3.0.6",
            dag_test=False,
            note="dag.test() of Airflow 3.0.6 fails the example DAGs' tasks (its in-process "
            "execution API rejects a request)",
        ),
        Lane("3.1", "3.1.8"),
        Lane("3.2", "3.2.2", dag_test=False, note="dag.test() of Airflow 3.2.2 fails"),
        Lane("3.3", "3.3.2"),
    )
}
# `make test` runs the oldest lane that runs DAGs with dag.test().
OLDEST = min(
    (m for m, lane in LANES.items() if lane.dag_test),
    key=lambda m: tuple(int(p) for p in m.split(".")),
)


def selected() -> list[Lane]:
    """The lanes this session runs (``DAGSPEC_COMPAT``)."""
    wanted = os.environ.get("DAGSPEC_COMPAT", "oldest").strip()
    if wanted in ("", "oldest"):
        return [LANES[OLDEST]]
    if wanted == "all":
        return list(LANES.values())
    unknown = [m for m in wanted.split(",") if m.strip() not in LANES]
    if unknown:
        raise ValueError(f"DAGSPEC_COMPAT: no lane {unknown}; choose from {sorted(LANES)}")
    return [LANES[m.strip()] for m in wanted.split(",")]


def _pip(python: Path, *args: str, log: Path) -> None:
    with log.open("a") as out:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PIP_NO_INPUT": "1"},
        )
    if done.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(args)} failed; see {log}")


def cached_venv(name: str, requirements: list[str], constraints: Path) -> Path:
    """A venv under .venv-compat/NAME with `requirements` installed under `constraints`;
    rebuilt when either changes. Its python."""
    folder = CACHE / name
    key = hashlib.sha256(
        ("\n".join(requirements) + "\n" + constraints.read_text()).encode()
    ).hexdigest()
    marker = folder / ".dagspec-compat-key"
    python = folder / "bin" / "python"
    if marker.is_file() and marker.read_text() == key and python.exists():
        return python
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(folder)], check=True)
    _pip(python, "-c", str(constraints), *requirements, log=folder / "install.log")
    marker.write_text(key)
    return python


def airflow_venv(lane: Lane) -> Path:
    """The lane's python: Airflow ``lane.version`` and nothing of dagspec yet."""
    return cached_venv(
        f"airflow-{lane.version}", [f"apache-airflow=={lane.version}"], lane.constraints
    )


def runtime_wheel() -> Path:
    """Build runtime/ from the working tree into a wheel (the link becomes the package)."""
    build, wheels = CACHE / "runtime-build", CACHE / "runtime-wheel"
    for folder in (build, wheels):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "runtime", build, symlinks=False)
    log = CACHE / "runtime-wheel.log"
    log.write_text("")
    with log.open("a") as out:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps"]
            + ["--disable-pip-version-check", "-w", str(wheels), str(build)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    shutil.rmtree(build, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the runtime wheel failed; see {log}")
    return next(wheels.glob("dagspec_runtime-*.whl"))


def install_runtime(python: Path, wheel: Path) -> None:
    """Install the runtime wheel without dependencies (an Airflow image has them)."""
    log = python.parent.parent / "runtime-install.log"
    log.write_text("")
    _pip(python, "--no-deps", "--force-reinstall", str(wheel), log=log)


def compiler_venv() -> Path:
    """A venv with the compiler distribution only (``pip install .``: no Airflow, no runtime);
    the project is reinstalled from the working tree each session. Its python."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = cached_venv(
        "compiler", ["setuptools>=68", *project["dependencies"]], ROOT / "constraints.txt"
    )
    build = CACHE / "compiler-build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, build / name)
    for name in ("compiler", "dagspec", "schemas", "templates"):
        shutil.copytree(ROOT / name, build / name, ignore=shutil.ignore_patterns("__pycache__"))
    _pip(
        python,
        "--no-deps",
        "--force-reinstall",
        "--no-build-isolation",
        str(build),
        log=python.parent.parent / "compiler-install.log",
    )
    shutil.rmtree(build, ignore_errors=True)
    return python
