"""The gates as a real Airflow DAG run with dag.test(). The DAG file is written the way the
template emits it: one ManifestGateOperator per gate, only literals (repr), chained in the
fail-closed order. dag.test() in 3.3 only runs DAGs found in the dags-folder bundle, so the file
goes to a temporary dags folder that the bundle points at for this test."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagspec_runtime.metalog import Ledger, engine_for

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

GATES = (
    "extract",
    "contract",
    "evolution",
    "compatibility",
    "ddl",
    "stage",
    "finalize",
    "evidence",
    "audit",
    "state",
    "publish",
)


def dag_source(dag_id: str, process: dict[str, Any], conn_id: str, sqlite: str, root: str) -> str:
    """What the template would render for one manifest process."""
    lines = [
        "# Generated-style manifest DAG (airflow dag): orders",
        "from airflow.sdk import DAG, chain",
        "",
        "from dagspec_runtime.etl.gate_operator import ManifestGateOperator",
        "",
        f"PROCESS = {process!r}",
        "",
        f"with DAG(dag_id={dag_id!r}, schedule=None, catchup=False, tags=['dagspec']) as dag:",
        "    gates = [",
    ]
    for gate in GATES:
        lines.append(
            f"        ManifestGateOperator(task_id={'orders.' + gate!r}, gate={gate!r}, "
            f"process=PROCESS, meta_conn_id={conn_id!r}, meta_sqlite_path={sqlite!r}, "
            f"run_root={root!r}),"
        )
    lines += ["    ]", "    chain(*gates)", ""]
    return "\n".join(lines)


@pytest.fixture
def dags_folder(airflow_db: Path, tmp_path: Path) -> Iterator[Path]:
    from airflow import settings

    dags = tmp_path / "dags"
    dags.mkdir()
    previous = settings.DAGS_FOLDER, settings.PLUGINS_FOLDER
    settings.DAGS_FOLDER = str(dags)
    settings.PLUGINS_FOLDER = str(tmp_path / "no-plugins")
    yield dags
    settings.DAGS_FOLDER, settings.PLUGINS_FOLDER = previous


def run_dag(dags: Path, dag_id: str, source: str) -> Any:
    path = dags / f"{dag_id}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"etl_test_{dag_id}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag.test()


def test_gates_run_as_a_dag(
    dags_folder: Path,
    db_url: str,
    make_process: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process = make_process(
        enforcement="quarantine",
        publish={"table": "orders_by_customer", "group_by": ["customer"], "sum": ["amount"]},
    )
    if db_url.startswith("sqlite"):
        # No connection defined: the operator falls back to the SQLite file it was given.
        conn_id, sqlite_path = "dagspec_meta_undefined", db_url.removeprefix("sqlite:///")
    else:
        conn_id, sqlite_path = "dagspec_meta_pg", str(tmp_path / "unused.sqlite")
        uri = sa.make_url(db_url).set(drivername="postgresql")
        monkeypatch.setenv(
            "AIRFLOW_CONN_DAGSPEC_META_PG", uri.render_as_string(hide_password=False)
        )
    root = str(tmp_path / "runs")
    run = run_dag(
        dags_folder,
        "manifest_orders",
        dag_source("manifest_orders", process, conn_id, sqlite_path, root),
    )
    assert "success" in str(run.state).lower(), run.state
    engine = engine_for(db_url)
    ledger = Ledger(engine, "orders")
    assert ledger.counts()["load_audit"] == 1 and ledger.counts()["publish_log"] == 1
    assert ledger.state().units_committed == 2
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM orders")) == 7
    assert not (tmp_path / "unused.sqlite").exists()

    # A strict process meeting a bad row: the DAG run fails, target and state stay put.
    (Path(process["source"]["landing_dir"]) / "orders" / "late.csv").write_text(
        "order_id,customer,amount,ordered_at\n77,x,oops,2026-11-09T08:00:00\n"
    )
    failed = run_dag(
        dags_folder,
        "manifest_orders_strict",
        dag_source("manifest_orders_strict", make_process(), conn_id, sqlite_path, root),
    )
    assert "failed" in str(failed.state).lower(), failed.state
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM orders")) == 7
    assert ledger.state().units_committed == 2
