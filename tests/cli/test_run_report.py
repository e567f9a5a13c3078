"""`dagspec run --format json`: one JSON document on stdout for every outcome, with the
seed-001 fields; the Python API returns the same report; signals cancel what the run started.

Fast path (the default), real module processes, real SQLite.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {
    "status",
    "attempts",
    "max_attempts",
    "inserted_rows",
    "quarantined_rows",
    "errors",
    "duration_s",
    "reconciliation_metrics",
}
SLEEPER = """import json, os, sys, time
from pathlib import Path
Path(os.environ["PID_FILE"]).write_text(str(os.getpid()))
print("sleeping", file=sys.stderr, flush=True)
time.sleep(120)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project plus a strict manifest, a manifest whose sink connection does not
    exist (every try fails) and an entity whose module sleeps (to be interrupted)."""
    root = tmp_path_factory.mktemp("report")
    for name in ("dagspec.yaml", "specs", "examples"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy(source, root / name)
    orders = (root / "specs" / "orders-etl.yaml").read_text()
    (root / "specs" / "orders-strict.yaml").write_text(
        orders.replace("name: orders-etl", "name: orders-strict")
        .replace("name: orders\n", "name: strict_orders\n")
        .replace("enforcement: quarantine", "enforcement: strict")
        .replace("table: orders\n", "table: orders_strict\n")
        .replace("table: orders_by_customer", "table: strict_by_customer")
    )
    (root / "specs" / "orders-nowhere.yaml").write_text(
        orders.replace("name: orders-etl", "name: orders-nowhere")
        .replace("name: orders\n", "name: nowhere_orders\n")
        .replace("table: orders\n", "table: orders_nowhere\n        conn_id: no_such_db\n")
    )
    (root / "modules").mkdir()
    (root / "modules" / "sleeper.py").write_text(SLEEPER)
    config = (root / "dagspec.yaml").read_text()
    (root / "dagspec.yaml").write_text(
        config.replace("    - organization-site\n", "    - organization-site\n    - sleepy\n")
    )
    (root / "specs" / "sleepy.yaml").write_text(
        "apiVersion: dagspec/v1\nkind: Entity\nmetadata:\n  name: sleepy\nspec:\n  phases:\n"
        "    - name: work\n      modules:\n        - name: sleeper\n"
        "          command: python modules/sleeper.py\n          outputs: [work/x.json]\n"
        "  promote: []\n"
    )
    return root


def env_for(project: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(project / ".airflow"),
        "RDT_WORKSPACE_DIR": str(project / "ws"),
        **extra,
    }
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    env.pop("AIRFLOW_CONN_DAGSPEC_META", None)
    return env


def command(project: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dagspec.cli",
        "--project",
        str(project),
        "run",
        *args,
        "--format",
        "json",
    ]


def run_json(project: Path, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        command(project, *args),
        env=env_for(project, **env),
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, json.loads(done.stdout)  # exactly one document, or this raises


def check_fields(report: dict[str, Any]) -> None:
    assert set(report["result"]) >= FIELDS
    assert "data_contract_evidence" in report["result"]["reconciliation_metrics"]
    assert all("Traceback" not in e for e in report["result"]["errors"])


def test_success_reports_rows_and_evidence(project: Path) -> None:
    code, report = run_json(project, "specs/orders-etl.yaml", "--selector", "orders")
    check_fields(report)
    assert code == 0 and report["passed"] is True
    result = report["result"]
    assert (result["status"], result["inserted_rows"], result["quarantined_rows"]) == (
        "success",
        7,
        3,
    )
    assert (result["attempts"], result["max_attempts"]) == (1, 3)
    assert Path(result["reconciliation_metrics"]["data_contract_evidence"]).is_file()


def test_strict_contract_failure(project: Path) -> None:
    code, report = run_json(project, "orders-strict")
    check_fields(report)
    assert code == 1 and report["passed"] is False and report["result"]["status"] == "failed"
    assert report["result"]["inserted_rows"] == 0
    assert any("task contract:" in e for e in report["result"]["errors"])
    states = {t["task_id"]: t["state"] for t in report["tasks"]}
    assert states["contract"] == "failed" and states["stage"] == "upstream_failed"
    assert report["tasks"][1]["attempts"] == 1  # a refused contract is not retried


def test_retry_exhaustion_counts_every_attempt(project: Path) -> None:
    started = time.monotonic()
    code, report = run_json(
        project, "orders-nowhere", "--retry-attempts", "2", "--retry-backoff-seconds", "0.5"
    )
    check_fields(report)
    assert code == 1 and report["result"]["status"] == "failed"
    assert (report["result"]["attempts"], report["result"]["max_attempts"]) == (3, 3)
    assert any("no_such_db" in e for e in report["result"]["errors"])
    assert time.monotonic() - started >= 1.0  # two waits of 0.5 s


def test_failed_entity_module(project: Path) -> None:
    code, report = run_json(
        project, "organization-site", DAGSPEC_EXAMPLE_FAIL="bronze-sql,datacontract"
    )
    check_fields(report)
    assert code == 1 and report["status"] == "error" and report["passed"] is False
    assert any(e.startswith("compile.bronze-sql: ") for e in report["result"]["errors"])
    assert report["pipeline_result"]["promoted"] is False


def test_warning_entity_run_exits_0(project: Path) -> None:
    code, report = run_json(project, "organization-site", DAGSPEC_EXAMPLE_FAIL="profile")
    check_fields(report)
    assert code == 0 and report["status"] == "warning" and report["passed"] is True
    assert any(e.startswith("govern.profile: ") for e in report["result"]["errors"])


@pytest.mark.parametrize(
    "args",
    [
        ["waste-tracking", "--target", "staging"],
        ["specs/orders-etl.yaml", "--selector", "ordrs"],
        ["waste-tracking", "--conf", "[1]"],
    ],
    ids=["bad target", "unknown selector", "conf not an object"],
)
def test_config_error_exit_2(project: Path, args: list[str]) -> None:
    code, report = run_json(project, *args)
    check_fields(report)
    assert code == 2 and report["status"] == "config_error" and report["result"]["errors"]


def _start_sleepy(project: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    pid_file = tmp_path / "module.pid"
    proc = subprocess.Popen(
        command(project, "sleepy"),
        env=env_for(project, PID_FILE=str(pid_file)),
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # the module's own stderr line, relayed by the runner
        if "[sleeper] sleeping" in line:
            break
    else:
        raise AssertionError(f"the module never started: {proc.communicate()}")
    return proc, pid_file


@pytest.mark.parametrize(
    ("sig", "to_group", "code"),
    [
        (signal.SIGINT, False, 130),
        (signal.SIGTERM, False, 143),
        (signal.SIGHUP, False, 129),
        (signal.SIGINT, True, 130),
        (signal.SIGTERM, True, 143),
    ],
    ids=["SIGINT pid", "SIGTERM pid", "SIGHUP pid", "SIGINT group", "SIGTERM group"],
)
def test_signal_cancels_the_module_and_reports(
    project: Path, tmp_path: Path, sig: int, to_group: bool, code: int
) -> None:
    proc, pid_file = _start_sleepy(project, tmp_path)
    module_pid = int(pid_file.read_text())
    (os.killpg if to_group else os.kill)(proc.pid, sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == code
    report = json.loads(out)
    check_fields(report)
    assert report["status"] == "interrupted" and report["passed"] is False
    assert f"process {module_pid}" in report["cancelled"]
    with pytest.raises(ProcessLookupError):
        os.kill(module_pid, 0)  # the module is gone, not orphaned


def test_python_api_matches_the_cli_json(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dagspec

    for key, value in env_for(project).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AIRFLOW_CONN_DAGSPEC_META", raising=False)
    monkeypatch.chdir(project)
    report = dagspec.run(
        "specs/orders-etl.yaml",
        selector="orders",
        run_id="api-run-1",
        retry_attempts=2,
        retry_backoff_seconds=5,
    )
    assert report.passed and report.result.errors == []
    assert report.run_id == "api-run-1" and report.result.max_attempts == 3
    code, cli = run_json(
        project,
        "specs/orders-etl.yaml",
        "--selector",
        "orders",
        "--run-id",
        "cli-run-1",
        "--retry-attempts",
        "2",
        "--retry-backoff-seconds",
        "5",
    )
    assert code == report.exit_code == 0
    api = report.to_dict()
    assert set(api) == set(cli) and set(api["result"]) == set(cli["result"])
    # the second run finds the files already loaded: the same shape, its own numbers
    assert [(t["task_id"], t["state"]) for t in api["tasks"]] == [
        (t["task_id"], t["state"]) for t in cli["tasks"]
    ]
    assert report.result.inserted_rows == api["result"]["inserted_rows"]
