"""The fast local run and the Airflow run (`--airflow`, dag.test) must not drift.

Two copies of the example project go through the same sequence of runs, one per path; after
each run the reports (minus timings, run ids, Slurm job ids and error wording), the promoted
project files, the loaded rows and the recorded reduction steps and data products must be the
same. Real modules, real Airflow, real SQLite, real Slurm (the reduction cases).

Both children start from a folder outside the project (as an Airflow worker does) and the
project keeps its workspaces in a relative ``workspace.base_dir``: a path that resolves against
the current folder instead of the project root shows up as a workspace outside the project.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.airflow
PROMOTED = ("models", "snowflake", "dbt", "landing/waste-tracking", "landing/organization-site")
VOLATILE = {
    "run_id",
    "airflow_run_id",
    "duration_s",
    "duration_ms",
    "finished_at",
    "workspace",
    "path",
    "error",
    "created_at",
    "timestamp",
    "exit_code",
    "cancelled",
    # a Slurm job's id, times and output file (named after the job id and run id)
    "job_id",
    "runtime_s",
    "cpu_time_s",
    "output_path",
}
#: the reduction step's calibration fails for scan2 only (exit 3, a message on stderr)
#: a relative workspace folder: it means the project's folder, wherever a worker starts
WORKSPACES = "var/workspaces"
FAILING_CALIBRATION = (
    "command_template: >-\n"
    "          if [ {sub_group[executed_obs_unit]} = scan2 ]; then echo reading scan2;\n"
    "          echo bad calibration table >&2; exit 3; fi;\n"
    "          python3 examples/reduction/calibrate.py"
)


def make_project(root: Path, copy_project: Callable[[Path], Path]) -> Path:
    """The example project with a relative ``workspace.base_dir``, plus a promotion of an
    optional module's output (so a warning run has a missing file to skip), a strict copy of
    the orders manifest, the reduction pipeline without cooldowns and a copy of it whose
    calibration fails for one scan."""
    copy_project(root)
    config = root / "dagspec.yaml"
    text = config.read_text()
    assert "    base_dir: null" in text
    config.write_text(text.replace("    base_dir: null", f"    base_dir: {WORKSPACES}"))
    base = root / "specs" / "entity-pipeline.yaml"
    base.write_text(
        base.read_text().replace(
            "  promote:\n",
            '  promote:\n    - {from: govern/profile.json, to: "models/{entity}/profile.json"}\n',
        )
    )
    orders = (root / "specs" / "orders-etl.yaml").read_text()
    strict = (
        orders.replace("name: orders-etl", "name: orders-strict")
        .replace("name: orders\n", "name: strict_orders\n")
        .replace("enforcement: quarantine", "enforcement: strict")
        .replace("table: orders\n", "table: orders_strict\n")
        .replace("table: orders_by_customer", "table: strict_by_customer")
    )
    (root / "specs" / "orders-strict.yaml").write_text(strict)
    chai = root / "specs" / "chai-ngc253.yaml"
    chai.write_text(re.sub(r"cooldown_seconds: \d+", "cooldown_seconds: 0", chai.read_text()))
    failing = (
        chai.read_text()
        .replace("name: chai-ngc253", "name: chai-bad-scan")
        .replace(
            "command_template: >-\n          python3 examples/reduction/calibrate.py",
            FAILING_CALIBRATION,
            1,
        )
    )
    assert "bad calibration table" in failing
    (root / "specs" / "chai-bad-scan.yaml").write_text(failing)
    return root


def outside(project: Path) -> Path:
    """The folder a run starts in: next to the project, never inside it."""
    folder = project.parent / f"{project.name}-cwd"
    folder.mkdir(exist_ok=True)
    return folder


def dagspec(project: Path, *args: str, fail: str = "") -> tuple[int, dict[str, Any]]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(project / ".airflow"),
        "RDT_WORKSPACE_DIR": str(project / "workspaces"),
        "DAGSPEC_EXAMPLE_FAIL": fail,
    }
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    env.pop("AIRFLOW_CONN_DAGSPEC_META", None)
    command = [
        sys.executable,
        "-m",
        "dagspec.cli",
        "--project",
        str(project),
        "run",
        # a spec named by its path: the project's file, wherever the run starts
        *(str(project / a) if a.endswith(".yaml") else a for a in args),
        "--format",
        "json",
    ]
    done = subprocess.run(
        command, env=env, cwd=outside(project), capture_output=True, text=True, timeout=600
    )
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)  # stdout is exactly one JSON document


def normalized(value: Any, project: Path | None = None) -> Any:
    """The report without what differs by nature between two runs (times, ids, paths)."""
    if isinstance(value, dict):
        return {
            k: normalized(v, project)
            for k, v in value.items()
            if k not in VOLATILE and k != "errors"
        }
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
            tables = [
                r[0]
                for r in conn.execute(
                    "select name from sqlite_master where type='table' and name in "
                    "('orders', 'orders_by_customer', 'orders_strict', 'strict_by_customer')"
                )
            ]
            for table in sorted(tables):
                columns = [r[1] for r in conn.execute(f"pragma table_info({table})")]
                keep = [c for c in columns if not c.startswith("_")]
                rows[table] = sorted(
                    map(repr, conn.execute(f"select {', '.join(keep)} from {table}").fetchall())
                )
            rows.update(reduction_rows(conn, project))
    return {"files": files, "rows": rows}


def reduction_rows(conn: sqlite3.Connection, project: Path) -> dict[str, Any]:
    """Executed reduction steps and their data products (project paths, no ids or times)."""
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    if "executed_reduction_step" not in tables:
        return {}
    steps = conn.execute(
        "select pipeline, step, sub_group_key, software_version, status, input_fingerprint, "
        "output_dir, task_id, map_index, try_number, hpc_job_id is not null "
        "from executed_reduction_step order by pipeline, step, sub_group_key, try_number, status"
    ).fetchall()
    products = conn.execute(
        "select s.pipeline, s.step, s.sub_group_key, p.data_product_type, p.file_path, "
        # logs name the project folder, whose name differs by path
        "case p.data_product_type when 'LOG' then null else p.file_size end, "
        "(select count(*) from data_product_lineage l "
        "where l.data_product_id = p.id) from data_product p "
        "join executed_reduction_step s on s.id = p.executed_reduction_step_id "
        "order by 1, 2, 3, 5"
    ).fetchall()
    text = str(project)
    return {
        "executed_reduction_step": [normalized(list(r), project) for r in steps],
        "data_product": [
            [re.sub(r"slurm-\d+\.out", "slurm-JOB.out", str(v).replace(text, "PROJECT")) for v in r]
            for r in products
        ],
    }


CASES = [
    # (name, run arguments, modules made to fail, expected exit code, expected status)
    ("all ok", ["waste-tracking", "--target", "test"], "", 0, "ok"),
    (
        "optional failure is a warning; promotion skips its missing output",
        ["organization-site"],
        "profile",
        0,
        "warning",
    ),
    (
        "one of two required modules fails: partial, later phases run",
        ["organization-site"],
        "docs",
        1,
        "partial",
    ),
    (
        "every required module of a phase fails: error stops later phases",
        ["organization-site"],
        "bronze-sql,datacontract",
        1,
        "error",
    ),
    ("dry run", ["organization-site", "--dry-run"], "", 0, "ok"),
    ("quarantine manifest", ["specs/orders-etl.yaml", "--selector", "orders"], "", 0, "success"),
    ("strict manifest refuses bad rows", ["orders-strict"], "", 1, "failed"),
    pytest.param(
        "reduction on Slurm, all ok", ["chai-ngc253"], "", 0, "success", marks=pytest.mark.slurm
    ),
    pytest.param(
        "reduction on Slurm, a job exits 3: failure summary, later steps not run",
        ["chai-bad-scan", "--retry-backoff-seconds", "1"],
        "",
        1,
        "failed",
        marks=pytest.mark.slurm,
    ),
]


@pytest.fixture(scope="module")
def projects(
    tmp_path_factory: pytest.TempPathFactory, copy_project: Callable[[Path], Path]
) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("paths")
    return make_project(base / "fast", copy_project), make_project(base / "airflow", copy_project)


def _case_id(case: Any) -> str:
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.mark.parametrize(
    ("name", "args", "fail", "code", "status"), CASES, ids=[_case_id(c) for c in CASES]
)
def test_fast_and_airflow_paths_agree(
    projects: tuple[Path, Path],
    name: str,
    args: list[str],
    fail: str,
    code: int,
    status: str,
    request: pytest.FixtureRequest,
) -> None:
    if name.startswith("reduction"):
        request.getfixturevalue("slurm_up")
    fast_project, airflow_project = projects
    fast_code, fast = dagspec(fast_project, *args, fail=fail)
    airflow_code, slow = dagspec(airflow_project, *args, "--airflow", fail=fail)
    assert fast["path"] == "fast" and slow["path"] == "airflow"
    assert (fast_code, fast["status"]) == (code, status), fast
    assert (airflow_code, slow["status"]) == (code, status), slow
    assert normalized(fast, fast_project) == normalized(slow, airflow_project)
    assert project_state(fast_project) == project_state(airflow_project)
    for project, report in ((fast_project, fast), (airflow_project, slow)):
        assert not any(outside(project).iterdir()), f"{report['path']} wrote into its cwd"
        workspace = (report.get("pipeline_result") or {}).get("workspace")
        if workspace is not None:  # an entity run: its workspace is in the project's folder
            assert Path(workspace).parent == (project / WORKSPACES).resolve(), workspace
    if status == "warning":
        report = json.loads(
            (fast_project / "models/organization-site/promote-report.json").read_text()
        )
        assert report["skipped"] == ["govern/profile.json"]
    if name == "dry run":
        assert fast["pipeline_result"]["dry_run"] is True
    if name.startswith("reduction"):
        check_reduction(name, fast, slow)


def check_reduction(name: str, fast: dict[str, Any], slow: dict[str, Any]) -> None:
    """What normalising hides, checked on each path: the job ids, states and exit codes."""
    for report in (fast, slow):
        steps = [t for t in report["tasks"] if "." in t["task_id"]]
        if name.endswith("all ok"):
            assert [t["map_index"] for t in steps] == [0, 1, 0, 1, 0], report["tasks"]
            assert all(t["state"] == "success" for t in report["tasks"]), report["tasks"]
            assert report["slurm_failures"] == []
            continue
        states = {(t["task_id"], t.get("map_index")): t["state"] for t in report["tasks"]}
        assert states[("per_executed_obs_unit.calibrate", 0)] == "success", states
        assert states[("per_executed_obs_unit.calibrate", 1)] == "failed", states
        assert states[("per_executed_obs_unit.baseline", 1)] == "upstream_failed", states
        [failure] = report["slurm_failures"]
        assert failure["job_id"].isdigit() and failure["state"] == "FAILED"
        assert failure["exit_code"] == 3 and failure["sub_group_key"] == "executed_obs_unit=scan2"
        assert failure["output_tail"] == ["reading scan2", "bad calibration table"]
        assert any(
            e.startswith("task per_executed_obs_unit.calibrate") for e in report["result"]["errors"]
        ), report["result"]["errors"]


def test_fast_path_imports_no_airflow(tmp_path: Path, copy_project: Callable[[Path], Path]) -> None:
    """The fast path's whole run happens without loading Airflow."""
    project = make_project(tmp_path / "p", copy_project)
    code = (
        "import sys, pathlib\n"
        "from dagspec.run import RunRequest, execute\n"
        f"report = execute(pathlib.Path({str(project)!r}), "
        "RunRequest('waste-tracking', conf={'dry_run': True}))\n"
        "print(report['status'], sorted(m for m in sys.modules "
        "if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RDT_WORKSPACE_DIR": str(tmp_path / "ws")},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok []"
