"""Fixtures for the e2e suite: one real Airflow stack per session, started with the scripts.

The stack runs on a free 127.0.0.1 port with a temporary AIRFLOW_HOME, through
scripts/airflow-up.sh and scripts/airflow-down.sh, so the tests exercise exactly what developers
run. It is always stopped, also when a test fails; a stack that cannot start fails the session
loudly with its logs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airflow_rest import (
    ROOT,
    SCRIPTS,
    Api,
    free_port,
    stack_module,
    start_stack,
    stop_stack,
)
from airflow_rest import stack_logs as _stack_logs

__all__ = ["ROOT", "SCRIPTS", "Api", "Stack", "_stack_logs", "free_port", "stack_module"]

UP_TIMEOUT = 300
PARSE_TIMEOUT = 120


@dataclass
class Stack:
    """A running stack: where it is, how to log in, and what it started."""

    url: str
    home: Path
    env: dict[str, str]
    record: dict[str, Any]
    password: str
    stopped: bool = False
    stop_output: str = field(default="", repr=False)

    def alive(self) -> set[int]:
        """PIDs of this stack still alive (recorded parts, their children, marked strays)."""
        return stack_module.stack_processes(self.record)

    def stop(self) -> None:
        """Run airflow-down.sh once; later calls do nothing."""
        if self.stopped:
            return
        self.stopped = True
        done = stop_stack(self.env, timeout=120)
        self.stop_output = done.stdout + done.stderr
        assert done.returncode == 0, f"airflow-down.sh failed:\n{self.stop_output}"


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Start the stack with scripts/airflow-up.sh; always stop it with airflow-down.sh."""
    home = tmp_path_factory.mktemp("airflow-home")
    port = free_port()
    env = {
        **os.environ,
        "DAGSPEC_AIRFLOW_HOME": str(home),
        "DAGSPEC_AIRFLOW_PORT": str(port),
        "DAGSPEC_PYTHON": sys.executable,
        "RDT_WORKSPACE_DIR": str(home / "workspaces"),
        # The DAGs' bookkeeping goes to a meta database of this test session, not the repo's.
        "AIRFLOW_CONN_DAGSPEC_META": json.dumps(
            {
                "conn_type": "sqlite",
                "extra": {"sqlalchemy_url": f"sqlite:///{home / 'meta.sqlite'}"},
            }
        ),
    }
    stack = Stack(url=f"http://127.0.0.1:{port}", home=home, env=env, record={}, password="")
    stack.record = start_stack(env, home, UP_TIMEOUT)
    stack.password = stack_module.admin_password(home) or ""
    try:
        yield stack
    finally:
        stack.stop()
        if stack.record:
            left = stack.alive()
            assert not left, f"processes left after airflow-down.sh: {sorted(left)}"


@pytest.fixture(scope="session")
def api(airflow_stack: Stack) -> Api:
    return Api(airflow_stack.url, airflow_stack.password)


def generated_dag_ids() -> set[str]:
    """DAG ids the compiler wrote: one file per DAG, named after its id."""
    return {path.stem for path in (ROOT / "generated_dags").glob("*.py")}


@pytest.fixture(scope="session")
def parsed_dags(api: Api) -> dict[str, dict[str, Any]]:
    """Wait until every generated DAG is parsed, unpaused, with zero import errors."""
    expected = generated_dag_ids()
    dags = api.wait_parsed(expected, PARSE_TIMEOUT)
    paused = [dag_id for dag_id in expected if dags[dag_id]["is_paused"]]
    assert not paused, f"DAGs created paused: {paused}"
    return dags


def chromium_path() -> str:
    """Debian's Chromium; installed with apt-get when missing (CI starts from a fresh machine)."""
    found = os.environ.get("DAGSPEC_CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail("chromium not found; install the Debian package 'chromium'")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    found = shutil.which("chromium")
    if not found:
        pytest.fail("chromium still missing after apt-get install")
    return found
