"""Fixtures for the e2e suite: one real Airflow stack per session, started with the scripts.

The stack runs on a free 127.0.0.1 port with a temporary AIRFLOW_HOME, through
scripts/airflow-up.sh and scripts/airflow-down.sh, so the tests exercise exactly what developers
run. It is always stopped, also when a test fails; a stack that cannot start fails the session
loudly with its logs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
UP_TIMEOUT = 300
PARSE_TIMEOUT = 120
RUN_TIMEOUT = 150
FINAL_STATES = {"success", "failed"}


def _load_stack_module() -> ModuleType:
    """scripts/airflow_stack.py, to check the recorded PIDs the same way airflow-down does."""
    path = SCRIPTS / "airflow_stack.py"
    spec = importlib.util.spec_from_file_location("dagspec_airflow_stack", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stack_module = _load_stack_module()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        done = subprocess.run(
            ["bash", str(SCRIPTS / "airflow-down.sh")],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.stop_output = done.stdout + done.stderr
        assert done.returncode == 0, f"airflow-down.sh failed:\n{self.stop_output}"


def _stack_logs(home: Path) -> str:
    parts = []
    for path in sorted((home / "logs" / "stack").glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()[-60:]
        parts.append(f"----- {path.name} -----\n" + "\n".join(lines))
    return "\n".join(parts)


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
        "AIRFLOW_CONN_DAGSPEC_META": json.dumps({
            "conn_type": "sqlite",
            "extra": {"sqlalchemy_url": f"sqlite:///{home / 'meta.sqlite'}"},
        }),
    }
    stack = Stack(url=f"http://127.0.0.1:{port}", home=home, env=env, record={}, password="")
    try:
        done = subprocess.run(
            ["bash", str(SCRIPTS / "airflow-up.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=UP_TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        stack.stop()
        pytest.fail(f"airflow-up.sh hung for {UP_TIMEOUT}s\n{error}\n{_stack_logs(home)}")
    record_path = home / stack_module.PID_FILE_NAME
    if record_path.exists():
        stack.record = json.loads(record_path.read_text())
    if done.returncode != 0:
        stack.stop()
        pytest.fail(
            f"airflow-up.sh failed (exit {done.returncode})\n{done.stdout}\n{done.stderr}\n"
            f"{_stack_logs(home)}",
            pytrace=False,
        )
    stack.password = stack_module.admin_password(home) or ""
    try:
        yield stack
    finally:
        stack.stop()
        if stack.record:
            left = stack.alive()
            assert not left, f"processes left after airflow-down.sh: {sorted(left)}"


class Api:
    """Minimal REST v2 client with a SimpleAuthManager bearer token; stdlib only."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url
        self.password = password
        self._token: str | None = None

    def _send(self, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def token(self) -> str:
        if self._token is None:
            status, body = self._send(
                "POST", "/auth/token", {"username": "admin", "password": self.password}, {}
            )
            assert status in (200, 201), f"login failed: {status} {body}"
            self._token = body["access_token"]
        return self._token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self._send(method, path, body, {"Authorization": f"Bearer {self.token()}"})

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        assert status == 200, f"GET {path}: {status} {body}"
        return body

    def run_ids(self, dag_id: str) -> set[str]:
        runs = self.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
        return {run["dag_run_id"] for run in runs}

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT
    ) -> dict[str, Any]:
        """Poll a run until it is success or failed; fail with task states on timeout."""
        quoted = urllib.parse.quote(run_id, safe="")
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}")
            if run["state"] in FINAL_STATES:
                return run
            if time.monotonic() > deadline:
                pytest.fail(
                    f"run {run_id} still {run['state']} after {timeout}s: "
                    f"{self.task_states(dag_id, run_id)}"
                )
            time.sleep(2)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        quoted = urllib.parse.quote(run_id, safe="")
        body = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances?limit=100")
        return {ti["task_id"]: ti["state"] for ti in body["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        quoted = urllib.parse.quote(run_id, safe="")
        body = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}"
            f"/xcomEntries/{key}?deserialize=true"
        )
        return body["value"]


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
    deadline = time.monotonic() + PARSE_TIMEOUT
    while True:
        errors = api.get("/api/v2/importErrors")
        dags = {d["dag_id"]: d for d in api.get("/api/v2/dags?limit=100")["dags"]}
        assert errors["total_entries"] == 0, f"import errors: {errors['import_errors']}"
        if expected <= dags.keys():
            break
        if time.monotonic() > deadline:
            pytest.fail(f"DAGs not parsed after {PARSE_TIMEOUT}s: missing {expected - dags.keys()}")
        time.sleep(2)
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
