"""Fixtures for the distributed suite: a Celery stack whose two workers share no local disk.

The stack is the project's own (``scripts/airflow-up.sh`` with ``DAGSPEC_AIRFLOW_EXECUTOR=celery``):
Redis, PostgreSQL as the metadata database, api-server, scheduler, dag-processor, triggerer and
two Celery workers, each in its own mount and UTS namespace with a private /tmp. It serves a
copy of the example project (entity ``waste-tracking`` and the ETL that loads its export) whose
dagspec.yaml declares shared storage; the meta database is a PostgreSQL database too.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow_rest import (
    ROOT,
    SCRIPTS,
    Api,
    free_port,
    stack_module,
    start_stack,
    stop_stack,
)

UP_TIMEOUT = 420
ENTITY = "waste-tracking"
ETL = "waste-etl.waste-records"
REDUCTION = "chai-ngc253"
# Two probe entities whose compiled `queue` sends tasks to a worker without the shared storage.
PROBE, PROBE_HERE, PROBE_QUEUE = "storage-probe", "storage-probe-here", "isolated"
PROBE_SPECS = {
    PROBE: f"""apiVersion: dagspec/v1
kind: Entity
metadata:
  name: {PROBE}
  owner: test
  description: Its module runs on the queue of the worker without the shared storage.
spec:
  phases:
    - name: check
      modules:
        - name: elsewhere
          command: [python, -c, "print()"]
          queue: {PROBE_QUEUE}
""",
    PROBE_HERE: f"""apiVersion: dagspec/v1
kind: Entity
metadata:
  name: {PROBE_HERE}
  owner: test
  description: Every task runs on the queue of the worker without the shared storage.
spec:
  queue: {PROBE_QUEUE}
  phases:
    - name: check
      modules:
        - name: here
          command: [python, -c, "print()"]
""",
}
# Queues only one worker listens on (DAGSPEC_CELERY_WORKER_QUEUES); the test project's
# reduction spec routes its per-scan steps to the first and its gridding step to the second.
WORKER_QUEUES = {"worker-a": "scans", "worker-b": "bigmem"}
GRID_SLEEP_S = 8  # the gridding job outlasts the operator's in-worker wait: the task defers
HOLD = "var/hold-governance"
BUCKET = "dagspec-runs"
STORAGE_CONN = "dagspec_storage"

# The governance module waits while the hold file exists (the fault test kills its worker then).
HOLD_WRAPPER = '''"""Test helper: wait while the hold file exists, then run the real module."""
import os, sys, time
from pathlib import Path
hold = Path(os.environ.get("DAGSPEC_HOLD", "var/hold-governance"))
deadline = time.monotonic() + 300
while hold.exists() and time.monotonic() < deadline:
    time.sleep(0.2)
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
'''


@dataclass
class Moto:
    """moto in server mode: an S3-API emulator on 127.0.0.1 (no real S3 server runs here)."""

    endpoint: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def keys(self, prefix: str = "") -> list[str]:
        body = self.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for item in body.get("Contents", []))


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[Moto]:
    """Start moto_server on a free 127.0.0.1 port with one bucket; always stopped."""
    port = free_port()
    server = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    moto = Moto(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto_server did not start")
                time.sleep(0.2)
        moto.client().create_bucket(Bucket=BUCKET)
        yield moto
    finally:
        process.kill()
        process.wait(timeout=30)


@dataclass
class Project:
    """A copy of the example project that the stack serves (DAGs, modules, promoted files)."""

    root: Path
    shared: Path

    def set_storage(self, url: str | None) -> None:
        path = self.root / "dagspec.yaml"
        data = yaml.safe_load(path.read_text())
        data["spec"]["storage"] = {"url": url}
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def compile(self) -> None:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "dagspec"), "compile"],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def reduction_spec(source: Path, target: Path) -> None:
    """The example reduction pipeline, its steps routed by the compiled `queue` setting, and
    the gridding job made long enough to be waited for by the triggerer."""
    data = yaml.safe_load(source.read_text())
    for step in data["spec"]["steps"]:
        if step["name"] in ("calibrate", "baseline"):
            step["queue"] = WORKER_QUEUES["worker-a"]
        if step["name"] == "grid":
            step["queue"] = WORKER_QUEUES["worker-b"]
            command = step["config"]["command_template"]
            step["config"]["command_template"] = f"sleep {GRID_SLEEP_S} && {command}"
    target.write_text(yaml.safe_dump(data, sort_keys=False))


def make_project(folder: Path, shared: Path) -> Project:
    """Entity, ETL and reduction specs and the example modules; governance wrapped by the hold
    helper."""
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "examples", folder / "examples")
    (folder / "specs").mkdir()
    for name in ("entity-pipeline", ENTITY, "waste-etl"):
        shutil.copy(ROOT / "specs" / f"{name}.yaml", folder / "specs")
    reduction_spec(ROOT / "specs" / f"{REDUCTION}.yaml", folder / "specs" / f"{REDUCTION}.yaml")
    for name, text in PROBE_SPECS.items():
        (folder / "specs" / f"{name}.yaml").write_text(text)
    (folder / "examples" / "modules" / "hold.py").write_text(HOLD_WRAPPER)
    pipeline = folder / "specs" / "entity-pipeline.yaml"
    text = pipeline.read_text()
    text = text.replace(
        "command: [python, examples/modules/govern.py]",
        "command: [python, examples/modules/hold.py, examples/modules/govern.py]",
    )
    text = text.replace("  abstract: true\n", "  abstract: true\n  retries: 1\n")
    pipeline.write_text(text)
    data = yaml.safe_load((ROOT / "dagspec.yaml").read_text())
    data["spec"]["entities"] = [ENTITY, *PROBE_SPECS]
    (folder / "dagspec.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (folder / "var").mkdir()
    project = Project(folder, shared)
    project.set_storage(str(shared))
    project.compile()
    return project


@dataclass
class CeleryStack:
    url: str
    home: Path
    env: dict[str, str]
    record: dict[str, Any]
    api: Api
    project: Project
    meta_url: str
    up_seconds: float
    down_seconds: float = 0.0

    def reload(self) -> None:
        self.record = json.loads((self.home / stack_module.PID_FILE_NAME).read_text())

    def worker_pid(self, name: str) -> int:
        return [p["pid"] for p in self.record["processes"] if p["name"] == name][-1]

    def add_worker(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, str(SCRIPTS / "airflow_stack.py"), "add-worker", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        self.reload()


@pytest.fixture(scope="module")
def celery_stack(moto_s3: Moto, new_pg_database: Any) -> Iterator[CeleryStack]:
    """The distributed stack on a free port; always stopped by airflow-down.sh."""
    # Not pytest's tmp_path: its parents are private to root, and PostgreSQL runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="dagspec-celery-"))
    base.chmod(0o755)
    shared = base / "shared-storage"
    shared.mkdir()
    project = make_project(base / "project", shared)
    home = base / "airflow-home"
    port = free_port()
    meta_url = new_pg_database()
    env = {
        **os.environ,
        "DAGSPEC_AIRFLOW_EXECUTOR": "celery",
        "DAGSPEC_AIRFLOW_HOME": str(home),
        "DAGSPEC_AIRFLOW_PORT": str(port),
        "DAGSPEC_PROJECT_DIR": str(project.root),
        "DAGSPEC_PYTHON": sys.executable,
        "DAGSPEC_HOLD": str(project.root / HOLD),
        "DAGSPEC_CELERY_WORKER_QUEUES": ",".join(f"{k}={v}" for k, v in WORKER_QUEUES.items()),
        "AIRFLOW_CONN_DAGSPEC_META": json.dumps(
            {"conn_type": "postgres", "extra": {"sqlalchemy_url": meta_url}}
        ),
        "AIRFLOW_CONN_" + STORAGE_CONN.upper(): json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": moto_s3.endpoint, "region_name": "us-east-1"},
            }
        ),
        # A dead worker's task is noticed within seconds, and retried at once.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    started = time.monotonic()
    record = start_stack(env, home, UP_TIMEOUT)
    up_seconds = time.monotonic() - started
    record_path = home / stack_module.PID_FILE_NAME
    api = Api(f"http://127.0.0.1:{port}", stack_module.admin_password(home) or "")
    stack = CeleryStack(api.url, home, env, record, api, project, meta_url, up_seconds)
    try:
        yield stack
    finally:
        started = time.monotonic()
        down = stop_stack(env)
        stack.down_seconds = time.monotonic() - started
        print(f"\ncelery stack: up {stack.up_seconds:.0f} s, down {stack.down_seconds:.0f} s")
        stack.reload() if record_path.exists() else None
        left = stack_module.stack_processes(stack.record) if stack.record else set()
        assert down.returncode == 0, down.stdout + down.stderr
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"processes left after airflow-down.sh: {sorted(left)}"
