"""Fixtures for the reduction runtime: a private copy of the raw catalogue, a private meta
database and products root, and a runner for the hand-written reduction DAG via `dag.test()`.

The Slurm cluster is the project's own (scripts/slurm-up.sh, idempotent: fast when it is up).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from .dag_source import reduction_dag

ROOT = Path(__file__).resolve().parents[3]
RAW = ROOT / "examples" / "reduction" / "raw"
OLD = time.time() - 7 * 86400
SESSION = uuid.uuid4().hex[:8]


@dataclass
class TaskRun:
    task_id: str
    map_index: int
    state: str
    result: Any
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class DagRunResult:
    """One DAG run as the metadata DB saw it: task instances with their return values."""

    dag_id: str
    state: str
    tasks: list[TaskRun] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, task_id: str) -> list[TaskRun]:
        return sorted((t for t in self.tasks if t.task_id == task_id), key=lambda t: t.map_index)


@dataclass
class ReductionEnv:
    catalogue: Path
    meta_sqlite: Path
    products: Path
    dags: Path

    def engine(self) -> sa.Engine:
        return sa.create_engine(f"sqlite:///{self.meta_sqlite}")

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        engine = self.engine()
        try:
            with engine.connect() as conn:
                return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]
        finally:
            engine.dispose()


def copy_catalogue(dest: Path) -> Path:
    """The example raw catalogue, with mtimes a week old so no cooldown applies."""
    shutil.copytree(RAW, dest)
    for path in dest.rglob("*"):
        os.utime(path, (OLD, OLD))
    return dest


@pytest.fixture(scope="module")
def reduction_env(
    airflow_db: Path, slurm_up: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReductionEnv]:
    from airflow import settings

    base = tmp_path_factory.mktemp("reduction")
    env = ReductionEnv(
        catalogue=copy_catalogue(base / "raw"),
        meta_sqlite=base / "meta.sqlite",
        products=base / "products",
        dags=base / "dags",
    )
    env.dags.mkdir()
    previous = settings.DAGS_FOLDER, settings.PLUGINS_FOLDER
    settings.DAGS_FOLDER = str(env.dags)
    settings.PLUGINS_FOLDER = str(tmp_path_factory.mktemp("no-plugins"))
    yield env
    settings.DAGS_FOLDER, settings.PLUGINS_FOLDER = previous


@pytest.fixture(scope="module")
def run_reduction(reduction_env: ReductionEnv) -> Callable[..., DagRunResult]:
    """Write the reduction DAG `dag_id` (with overrides) and run it with dag.test().

    Dag ids get a per-session suffix: Slurm remembers jobs (and their comments) for an hour, so
    counting a DAG's jobs must not see an earlier session's.
    """

    def run(dag_id: str, **overrides: Any) -> DagRunResult:
        dag_id = f"{dag_id}_{SESSION}"
        source = reduction_dag(
            dag_id,
            project_root=str(ROOT),
            catalogue=str(overrides.pop("catalogue", reduction_env.catalogue)),
            meta_sqlite_path=str(reduction_env.meta_sqlite),
            products_root=str(reduction_env.products),
            **overrides,
        )
        return run_dag_file(reduction_env.dags / f"{dag_id}.py", source)

    return run


def run_dag_file(path: Path, source: str) -> DagRunResult:
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"reduction_test_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    started = time.monotonic()
    dag_run = module.dag.test()
    return read_back(dag_run, time.monotonic() - started)


def read_back(dag_run: Any, seconds: float) -> DagRunResult:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        rows = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, key="return_value")
            .all()
        )
        values = {(r.task_id, r.map_index): XComModel.deserialize_value(r) for r in rows}
        tasks = [
            TaskRun(
                ti.task_id,
                ti.map_index,
                str(ti.state),
                values.get((ti.task_id, ti.map_index)),
                ti.start_date,
                ti.end_date,
            )
            for ti in tis
        ]
        return DagRunResult(dag_run.dag_id, str(dag_run.state), tasks, seconds)


def slurm_jobs_of(dag_id: str) -> list[str]:
    """Job ids Slurm itself knows for `dag_id` (SlurmSubmitOperator tags jobs by --comment)."""
    done = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i|%k"], capture_output=True, text=True, check=True
    )
    return [
        line.split("|", 1)[0]
        for line in done.stdout.splitlines()
        if line.partition("|")[2].startswith(f"dagspec:{dag_id}/")
    ]
