"""The fast local run and the Airflow run (`--airflow`, dag.test) must not drift.

Two copies of the example project go through the same sequence of runs, one per path; after
each run the reports (minus timings, run ids and error wording), the promoted project files and
the loaded rows must be the same. Real modules, real Airflow, real SQLite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.airflow
PROMOTED = ("models", "snowflake", "dbt", "landing/waste-tracking", "landing/organization-site")
VOLATILE = {"run_id", "airflow_run_id", "duration_s", "duration_ms", "finished_at", "workspace",
            "path", "error", "created_at", "timestamp", "exit_code", "cancelled"}


def make_project(root: Path) -> Path:
    """The example project, plus a promotion of an optional module's output (so a warning
    run has a missing file to skip) and a strict copy of the orders manifest."""
    root.mkdir()
    for name in ("dagspec.yaml", "specs", "examples"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy(source, root / name)
    base = root / "specs" / "entity-pipeline.yaml"
    base.write_text(base.read_text().replace(
        "  promote:\n",
        '  promote:\n    - {from: govern/profile.json, to: "models/{entity}/profile.json"}\n'))
    orders = (root / "specs" / "orders-etl.yaml").read_text()
    strict = (orders.replace("name: orders-etl", "name: orders-strict")
              .replace("name: orders\n", "name: strict_orders\n")
              .replace("enforcement: quarantine", "enforcement: strict")
              .replace("table: orders\n", "table: orders_strict\n")
              .replace("table: orders_by_customer", "table: strict_by_customer"))
    (root / "specs" / "orders-strict.yaml").write_text(strict)
    return root


def dagspec(project: Path, *args: str, fail: str = "") -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "AIRFLOW_HOME": str(project / ".airflow"),
           "RDT_WORKSPACE_DIR": str(project / "workspaces"), "DAGSPEC_EXAMPLE_FAIL": fail}
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    env.pop("AIRFLOW_CONN_DAGSPEC_META", None)
    command = [sys.executable, "-m", "compiler.cli", "--project", str(project), "run", *args,
               "--format", "json"]
    done = subprocess.run(command, env=env, cwd=project, capture_output=True, text=True,
                          timeout=600)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)  # stdout is exactly one JSON document


def normalized(value: Any, project: Path | None = None) -> Any:
    """The report without what differs by nature between two runs (times, ids, paths)."""
    if isinstance(value, dict):
        return {k: normalized(v, project) for k, v in value.items()
                if k not in VOLATILE and k != "errors"}
    if isinstance(value, list):
        return [normalized(v, project) for v in value]
    if isinstance(value, str):
        if project is not None:
            value = value.replace(str(project), "PROJECT")
        return re.sub(r"manual__[0-9T:._+-]+", "RUN", value)
    return value


def project_state(project: Path) -> dict[str, Any]:
    """Promoted files (pipeline results without their times and ids) and loaded rows."""
    files: dict[str, Any] = {}
    for folder in PROMOTED:
        for path in sorted((project / folder).rglob("*")):
            if path.is_file():
                text = path.read_text()
                key = str(path.relative_to(project))
                files[key] = normalized(json.loads(text)) if path.suffix == ".json" else text
    rows: dict[str, Any] = {}
    db = project / "var" / "meta.sqlite"
    if db.exists():
        with sqlite3.connect(db) as conn:
            tables = [r[0] for r in conn.execute(
                "select name from sqlite_master where type='table' and name in "
                "('orders', 'orders_by_customer', 'orders_strict', 'strict_by_customer')")]
            for table in sorted(tables):
                columns = [r[1] for r in conn.execute(f"pragma table_info({table})")]
                keep = [c for c in columns if not c.startswith("_")]
                rows[table] = sorted(map(repr, conn.execute(
                    f"select {', '.join(keep)} from {table}").fetchall()))
    return {"files": files, "rows": rows}


CASES = [
    # (name, run arguments, modules made to fail, expected exit code, expected status)
    ("all ok", ["waste-tracking", "--target", "test"], "", 0, "ok"),
    ("optional failure is a warning; promotion skips its missing output",
     ["organization-site"], "profile", 0, "warning"),
    ("one of two required modules fails: partial, later phases run",
     ["organization-site"], "docs", 1, "partial"),
    ("every required module of a phase fails: error stops later phases",
     ["organization-site"], "bronze-sql,datacontract", 1, "error"),
    ("dry run", ["organization-site", "--dry-run"], "", 0, "ok"),
    ("quarantine manifest", ["specs/orders-etl.yaml", "--selector", "orders"], "", 0,
     "success"),
    ("strict manifest refuses bad rows", ["orders-strict"], "", 1, "failed"),
]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("paths")
    return make_project(base / "fast"), make_project(base / "airflow")


@pytest.mark.parametrize(("name", "args", "fail", "code", "status"), CASES,
                         ids=[c[0] for c in CASES])
def test_fast_and_airflow_paths_agree(projects: tuple[Path, Path], name: str, args: list[str],
                                      fail: str, code: int, status: str) -> None:
    fast_project, airflow_project = projects
    fast_code, fast = dagspec(fast_project, *args, fail=fail)
    airflow_code, slow = dagspec(airflow_project, *args, "--airflow", fail=fail)
    assert fast["path"] == "fast" and slow["path"] == "airflow"
    assert (fast_code, fast["status"]) == (code, status), fast
    assert (airflow_code, slow["status"]) == (code, status), slow
    assert normalized(fast, fast_project) == normalized(slow, airflow_project)
    assert project_state(fast_project) == project_state(airflow_project)
    if status == "warning":
        report = json.loads((fast_project / "models/organization-site/promote-report.json")
                            .read_text())
        assert report["skipped"] == ["govern/profile.json"]
    if name == "dry run":
        assert fast["pipeline_result"]["dry_run"] is True


def test_fast_path_imports_no_airflow(tmp_path: Path) -> None:
    """The fast path's whole run happens without loading Airflow."""
    project = make_project(tmp_path / "p")
    code = ("import sys, pathlib\n"
            "from compiler.run import RunRequest, execute\n"
            f"report = execute(pathlib.Path({str(project)!r}), "
            "RunRequest('waste-tracking', conf={'dry_run': True}))\n"
            "print(report['status'], sorted(m for m in sys.modules "
            "if m == 'airflow' or m.startswith('airflow.')))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "RDT_WORKSPACE_DIR": str(tmp_path / "ws")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok []"
