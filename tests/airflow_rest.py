"""What every suite that drives a running Airflow stack shares (tests/system/e2e,
tests/system/distributed,
tests/system/stress): starting and stopping it with the project's scripts, the process checks that
airflow-down.sh uses, and a small REST v2 client.

The stack is always started by scripts/airflow-up.sh and stopped by scripts/airflow-down.sh, so
the tests exercise exactly what developers run; a stack that cannot start fails loudly with the
tails of its logs.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
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


def stack_logs(home: Path, lines: int = 60) -> str:
    """The last lines of every part's log, for a failure message."""
    parts = []
    for path in sorted((home / "logs" / "stack").glob("*.log")):
        text = path.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"----- {path.name} -----\n" + "\n".join(text))
    return "\n".join(parts)


def stop_stack(env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """scripts/airflow-down.sh with the stack's environment."""
    return subprocess.run(
        ["bash", str(SCRIPTS / "airflow-down.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_stack(env: dict[str, str], home: Path, timeout: float) -> dict[str, Any]:
    """scripts/airflow-up.sh; the stack's PID record. A stack that does not come up is stopped
    and the test fails with the script's output and the parts' logs."""
    try:
        done = subprocess.run(
            ["bash", str(SCRIPTS / "airflow-up.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        stop_stack(env)
        pytest.fail(f"airflow-up.sh hung for {timeout:.0f}s\n{error}\n{stack_logs(home)}")
    record_path = home / stack_module.PID_FILE_NAME
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    if done.returncode != 0:
        stop_stack(env)
        pytest.fail(
            f"airflow-up.sh failed (exit {done.returncode})\n{done.stdout}\n{done.stderr}\n"
            f"{stack_logs(home)}",
            pytrace=False,
        )
    return record


def quote(text: str) -> str:
    """A run id (``manual__2026-...+00:00``) as one URL path segment."""
    return urllib.parse.quote(text, safe="")


#: waits between tries of a request the api-server answered with a 5xx (the last is unused)
RETRY_WAITS = (1.0, 2.0, 4.0, 8.0, 0.0)


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
        """One request; a 5xx answer is retried the way Airflow's own API client retries it
        (airflow.sdk.api.client: status >= 500, exponential waits of 1, 2, 4, 8 s). On the
        SQLite stack such an answer is transient: a write that waits longer than SQLite's 5 s
        busy timeout for another process's write (a descheduled writer on a loaded machine)
        fails with "database is locked" and is rolled back, so sending it again is safe."""
        for wait in RETRY_WAITS:
            status, answer = self._send(
                method, path, body, {"Authorization": f"Bearer {self.token()}"}
            )
            if status < 500:
                break
            time.sleep(wait)
        return status, answer

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        assert status == 200, f"GET {path}: {status} {body}"
        return body

    def run_ids(self, dag_id: str) -> set[str]:
        runs = self.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
        return {run["dag_run_id"] for run in runs}

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start a run now (no logical date); its run id."""
        status, run = self.call(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}}
        )
        assert status == 200, f"trigger of {dag_id} refused: {status} {run}"
        return str(run["dag_run_id"])

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT
    ) -> dict[str, Any]:
        """Poll a run until it is success or failed; fail with task states on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}")
            if run["state"] in FINAL_STATES:
                return run
            if time.monotonic() > deadline:
                pytest.fail(
                    f"run {run_id} still {run['state']} after {timeout}s: "
                    f"{self.task_states(dag_id, run_id)}"
                )
            time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        body = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances?limit=100")
        return list(body["task_instances"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of a task instance, oldest first (hostname and state of each)."""
        body = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/tries"
        )
        return sorted(body["task_instances"], key=lambda t: t["try_number"])

    def xcom(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        key: str = "return_value",
        map_index: int | None = None,
    ) -> Any:
        mapped = "" if map_index is None else f"&map_index={map_index}"
        body = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}"
            f"/xcomEntries/{key}?deserialize=true{mapped}"
        )
        return body["value"]

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """A task try's log as the api-server serves it (the UI's log view), as text: each
        structured line's message followed by its other fields (e.g. ``error_detail``)."""
        body = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/"
            f"{try_number}?full_content=true&map_index={map_index}"
        )
        content = body["content"]
        if isinstance(content, str):
            return content
        lines = []
        for item in content:
            if isinstance(item, dict):
                rest = {k: v for k, v in item.items() if k not in ("event", "timestamp")}
                lines.append(f"{item.get('event', '')} {json.dumps(rest) if rest else ''}")
            else:
                lines.append(str(item))
        return "\n".join(lines)

    def wait_parsed(self, dag_ids: set[str], timeout: float) -> dict[str, dict[str, Any]]:
        """Until every DAG in ``dag_ids`` is parsed, with no import error; the DAGs by id."""
        deadline = time.monotonic() + timeout
        while True:
            errors = self.get("/api/v2/importErrors")
            assert errors["total_entries"] == 0, f"import errors: {errors['import_errors']}"
            dags = {d["dag_id"]: d for d in self.get("/api/v2/dags?limit=100")["dags"]}
            if dag_ids <= dags.keys():
                return dags
            if time.monotonic() > deadline:
                pytest.fail(f"DAGs not parsed after {timeout}s: missing {dag_ids - dags.keys()}")
            time.sleep(2)
