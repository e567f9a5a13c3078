"""Fixtures for the Slurm tests: the real local cluster, and DAG runs through `dag.test()`.

`dag.test()` in Airflow 3.3 only runs DAGs it can find in the dags-folder bundle, so each test
module writes its DAG files into its own temporary folder and points that bundle at it for the
module's duration (never at generated_dags/, which other tests own).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .helpers import ROOT


@pytest.fixture(scope="session")
def slurm_cluster(slurm_up: Any) -> Any:
    """The project's single-node Slurm: the root conftest's `slurm_up` (seconds, output)."""
    return slurm_up


@dataclass
class StepRun:
    """Outcome of one DAG run with one SlurmSubmitOperator task, read back from the metadata DB."""

    state: str
    result: dict[str, Any] | None
    hpc_job_id: str | None
    seconds: float


@pytest.fixture(scope="module")
def run_step(
    airflow_db: Path, slurm_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., StepRun]]:
    """Run a one-task DAG (`SlurmSubmitOperator(**kwargs)`) with `dag.test()`."""
    dags = tmp_path_factory.mktemp("dags")
    outputs = tmp_path_factory.mktemp("slurm-out")
    from airflow import settings

    # The dags-folder bundle reads settings.DAGS_FOLDER (fixed at import) when dag.test() runs.
    previous = settings.DAGS_FOLDER, settings.PLUGINS_FOLDER
    settings.DAGS_FOLDER = str(dags)
    # Airflow's plugin loader imports every .py under the plugins folder as a top-level module
    # named by its file stem (plugins/dagspec_runtime/etl/operator.py would replace the stdlib
    # `operator`). Our operators are imported as a package and need no plugin loading.
    settings.PLUGINS_FOLDER = str(tmp_path_factory.mktemp("no-plugins"))

    def run(dag_id: str, **kwargs: Any) -> StepRun:
        kwargs.setdefault("output_dir", str(outputs))
        kwargs.setdefault("workdir", str(ROOT))
        kwargs.setdefault("poll_interval", 0.5)
        path = dags / f"{dag_id}.py"
        path.write_text(_dag_file(dag_id, kwargs))
        spec = importlib.util.spec_from_file_location(f"slurm_test_{dag_id}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        started = time.monotonic()
        dag_run = module.dag.test()
        seconds = time.monotonic() - started
        return _read_back(dag_run, seconds)

    yield run
    settings.DAGS_FOLDER, settings.PLUGINS_FOLDER = previous


def _dag_file(dag_id: str, kwargs: dict[str, Any]) -> str:
    args = "".join(f"        {key}={value!r},\n" for key, value in kwargs.items())
    return (
        "# A test DAG for the airflow dag processor: one Slurm step.\n"
        "import datetime\n\n"
        "from airflow.sdk import DAG\n\n"
        "from dagspec_runtime.slurm import SlurmSubmitOperator\n\n"
        f"with DAG(dag_id={dag_id!r}, schedule=None, catchup=False,\n"
        "         start_date=datetime.datetime(2025, 1, 1)) as dag:\n"
        "    SlurmSubmitOperator(\n"
        "        task_id='step',\n"
        f"{args}"
        "    )\n"
    )


def _read_back(dag_run: Any, seconds: float) -> StepRun:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        (ti,) = dag_run.get_task_instances(session=session)
        rows = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id="step")
            .all()
        )
        values = {row.key: XComModel.deserialize_value(row) for row in rows}
        return StepRun(
            state=str(ti.state),
            result=values.get("return_value"),
            # The server-side decoder json-loads the stored string "42" once more into 42.
            hpc_job_id=None if values.get("hpc_job_id") is None else str(values["hpc_job_id"]),
            seconds=seconds,
        )
