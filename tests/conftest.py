"""Shared fixtures: one throwaway Airflow home per test session.

Airflow reads its configuration at import time, so the environment is set here, before any test
module imports Airflow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="dagspec-airflow-"))

os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "generated_dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY"] = "False"
os.environ["DO_NOT_TRACK"] = "1"
# One record of the DAG files Airflow parsed (dagspec.airflow_check) for the whole session, so
# each text a test compiles is parsed by Airflow once, not once per test and project folder.
os.environ.setdefault("DAGSPEC_AIRFLOW_RECORD", str(_AIRFLOW_HOME / "airflow-check.json"))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata database, made once per session (about 4 s)."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{done.stdout}\n{done.stderr}")
    return _AIRFLOW_HOME


@dataclass
class ClusterInfo:
    """How long scripts/slurm-up.sh took in this session, and what it said."""

    seconds: float
    output: str


@pytest.fixture(scope="session")
def slurm_up() -> ClusterInfo:
    """The project's single-node Slurm (scripts/slurm-up.sh is idempotent; `make test` also
    starts it before and stops it after the whole run). Fails loudly when it cannot start."""
    started = time.monotonic()
    done = subprocess.run(
        [str(ROOT / "scripts" / "slurm-up.sh")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(
            f"scripts/slurm-up.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}",
            pytrace=False,
        )
    return ClusterInfo(time.monotonic() - started, done.stdout + done.stderr)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL (scripts/pg-up.sh) for the session: its SQLAlchemy URL. Fails
    loudly when it cannot start; always stopped."""
    folder = Path(tempfile.mkdtemp(prefix="dagspec-pg-"))
    try:
        done = subprocess.run(
            [str(ROOT / "scripts" / "pg-up.sh"), str(folder)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            pytest.fail(f"pg-up.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        yield done.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(ROOT / "scripts" / "pg-down.sh"), str(folder)], timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _close_idle_metalog_connections() -> Iterator[None]:
    """After each test, close the meta-log engines' idle connections: the session makes one
    database per test, and idle connections count against PostgreSQL's max_connections."""
    yield
    engine = sys.modules.get("dagspec_runtime.metalog.engine")
    if engine is not None:
        engine.close_idle()


@pytest.fixture(scope="session")
def new_pg_database(pg_server: str) -> Callable[[], str]:
    """A factory: each call creates an empty database on the session's PostgreSQL, its URL."""
    import uuid

    import sqlalchemy as sa

    def create() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return sa.make_url(pg_server).set(database=name).render_as_string(hide_password=False)

    return create
