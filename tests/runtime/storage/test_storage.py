"""The declared-storage module on its own: markers, checkouts and their failure messages.

The object-store cases use moto in server mode, an S3-API *emulator* on 127.0.0.1 (no real S3
server can run here), read through Airflow's ObjectStoragePath and the Amazon provider.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagspec_runtime import storage


def test_kinds() -> None:
    assert storage.kind_of(None) == storage.LOCAL
    assert storage.kind_of("/srv/dagspec") == storage.SHARED
    assert storage.kind_of("s3://conn@bucket/prefix") == storage.OBJECT
    assert storage.workspace_root(None) is None
    assert storage.run_root("s3://b/p/") == "s3://b/p/runs"


def test_shared_folder_without_marker_is_refused(tmp_path: Path) -> None:
    """An unmounted (or never initialised) shared folder fails with who, what and the fix."""
    with pytest.raises(storage.StorageUnavailable) as error:
        storage.check(str(tmp_path / "missing"))
    message = str(error.value)
    assert storage.worker_name() in message and "spec.storage.url" in message
    with pytest.raises(storage.StorageUnavailable):
        storage.init(str(tmp_path / "missing"))  # a mount point is never created
    storage.init(str(tmp_path))
    storage.check(str(tmp_path))
    assert json.loads((tmp_path / storage.MARKER).read_text())["storage"] == str(tmp_path)


def test_checkout_of_a_folder_another_worker_wrote(tmp_path: Path) -> None:
    """A folder checkout is the folder itself; a missing required file is a clear error."""
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "workspace.json").write_text("{}")
    with storage.checkout(str(tmp_path / "ws"), required="workspace.json") as handle:
        assert handle.path == tmp_path / "ws" and not handle.remote
    missing = storage.checkout(str(tmp_path / "elsewhere"), required="workspace.json")
    with pytest.raises(storage.StorageUnavailable, match="cannot find workspace.json in"), missing:
        pass


@pytest.fixture(scope="module")
def s3_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A bucket on moto_server (127.0.0.1, free port) and an Airflow connection to it."""
    import os

    import boto3

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="t",
            aws_secret_access_key="t",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="run-state")
        os.environ["AIRFLOW_CONN_STORAGE_TEST"] = json.dumps(
            {
                "conn_type": "aws",
                "login": "t",
                "password": "t",
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        )
        yield "s3://storage_test@run-state/state"
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_object_store_round_trip(s3_url: str) -> None:
    """Marker, upload of only what changed, download elsewhere, removal."""
    with pytest.raises(storage.StorageUnavailable, match="marker is missing"):
        storage.check(s3_url)
    storage.init(s3_url)
    storage.check(s3_url)
    location = storage.join(s3_url, "workspaces", "w1")
    with storage.checkout(location) as handle:
        assert handle.remote
        (handle.path / "pull").mkdir()
        (handle.path / "pull" / "model.json").write_text('{"a": 1}')
        (handle.path / "workspace.json").write_text("{}")
    with storage.checkout(location, required="workspace.json") as handle:
        assert (handle.path / "pull" / "model.json").read_text() == '{"a": 1}'
        (handle.path / "pull" / "more.json").write_text("{}")
        assert handle.upload() == ["pull/more.json"]
    with storage.checkout(location) as handle:
        handle.remove()
    gone = storage.checkout(location, required="workspace.json")
    with pytest.raises(storage.StorageUnavailable, match="cannot find workspace.json"), gone:
        pass


# --- the pure entity steps on declared storage (what the operators and `dagspec run` call) ----

MODULE = """
import json, sys
from datetime import datetime, timezone
manifest = json.load(open(sys.argv[sys.argv.index("--manifest") + 1]))
out = manifest["workspace"] + "/check/model.json"
open(out, "w").write("{}")
print("boom", file=sys.stderr)
print(json.dumps({"module": "m", "version": "1", "status": "ok",
                  "entity_id": manifest["entity_id"],
                  "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "duration_ms": 1, "outputs": {"model": "check/model.json"}, "errors": []}))
"""


def run_entity_steps(url: str, project: Path) -> tuple[str, dict]:
    """prepare -> module -> gate -> promote -> result, each step given only the location."""
    import logging

    from dagspec_runtime.entity.gate import gate_phase
    from dagspec_runtime.entity.module import run_module
    from dagspec_runtime.entity.promote import promote_run
    from dagspec_runtime.entity.result import finish_run
    from dagspec_runtime.entity.workspace import open_workspace, prepare

    log = logging.getLogger("test")
    params = {"target": "dev", "keep_workspace": False}
    location = prepare(
        entity="probe",
        phases=["check"],
        base_dir=None,
        prefix="rdt",
        project_root=str(project),
        run_id="manual__1",
        params=params,
        log=log,
        storage=url,
    )
    run_module(
        workspace=location,
        run_id="manual__1",
        params=params,
        entity="probe",
        phase="check",
        module="m",
        command=["python", "-c", MODULE],
        project_root=str(project),
        log=log,
    )
    gate_phase(workspace=location, phase="check", modules={"m": True}, log=log)
    with open_workspace(location) as handle:  # what a later task on another worker sees
        assert handle is not None
        assert (handle.path / "check" / "m.result.json").is_file()
        assert "[m] boom" in (handle.path / "pipeline-stderr.log").read_text()
    promote_run(
        workspace=location,
        params=params,
        entity="probe",
        project_root=str(project),
        mapping={"check/model.json": "models/{entity}/model.json"},
        log=log,
    )
    result = finish_run(
        workspace=location,
        run_id="manual__1",
        params=params,
        entity="probe",
        phases={"check": ["m"]},
        project_root=str(project),
        log=log,
    )
    return location, result


def test_entity_steps_on_a_shared_folder(tmp_path: Path) -> None:
    """The workspace is made in <storage>/workspaces, promoted from, and removed there."""
    shared, project = tmp_path / "shared", tmp_path / "project"
    shared.mkdir()
    project.mkdir()
    with pytest.raises(storage.StorageUnavailable, match="spec.storage.url"):
        run_entity_steps(str(shared), project)  # no marker: refused before anything is made
    assert not (shared / "workspaces").exists()
    storage.init(str(shared))
    location, result = run_entity_steps(str(shared), project)
    assert Path(location).parent == shared / "workspaces"
    assert location.endswith(result["run_id"]) and result["airflow_run_id"] == "manual__1"
    assert result["workspace"] == location and result["status"] == "ok", result
    assert (project / "models" / "probe" / "model.json").is_file()
    assert not Path(location).exists()


def test_entity_steps_on_an_object_store(s3_url: str, tmp_path: Path) -> None:
    """Same steps, workspace in the object store (moto): each step downloads, writes back."""
    storage.init(s3_url)
    location, result = run_entity_steps(s3_url, tmp_path)
    assert location.startswith(f"{s3_url}/workspaces/rdt-probe-")
    assert result["workspace"] == location and result["status"] == "ok", result
    assert (tmp_path / "models" / "probe" / "model.json").is_file()
    gone = storage.checkout(location, required="workspace.json")
    with pytest.raises(storage.StorageUnavailable, match="cannot find workspace.json"), gone:
        pass


PARALLEL_MODULE = """
import json, os, sys, time
from datetime import datetime, timezone
name = os.environ["DAGSPEC_MODULE"]
manifest = json.load(open(sys.argv[sys.argv.index("--manifest") + 1]))
print(name + " first", file=sys.stderr, flush=True)
while os.environ.get("WAIT_FOR") and not os.path.exists(os.environ["WAIT_FOR"]):
    time.sleep(0.05)
print(name + " last", file=sys.stderr, flush=True)
print(json.dumps({"module": name, "version": "1", "status": "ok",
                  "entity_id": manifest["entity_id"],
                  "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "duration_ms": 1, "outputs": {}, "errors": []}))
"""


def test_parallel_modules_on_an_object_store_keep_every_stderr_line(
    s3_url: str, tmp_path: Path
) -> None:
    """Two modules of one phase at once, each on its own copy of the workspace (as on two
    workers): the slow one downloads first and uploads last. pipeline-stderr.log, as the gate
    leaves it, still holds every line of both, once each (also after the gate is retried)."""
    import logging
    import threading

    from dagspec_runtime.entity.gate import gate_phase
    from dagspec_runtime.entity.module import run_module
    from dagspec_runtime.entity.workspace import open_workspace, prepare

    storage.init(s3_url)
    log = logging.getLogger("test")
    params = {"target": "dev", "keep_workspace": True}
    location = prepare(
        entity="probe",
        phases=["check"],
        base_dir=None,
        prefix="rdt",
        project_root=str(tmp_path),
        run_id="manual__2",
        params=params,
        log=log,
        storage=s3_url,
    )
    released, started = tmp_path / "fast-done", threading.Event()
    errors: list[BaseException] = []

    def module(name: str, **extra: object) -> None:
        try:
            run_module(
                workspace=location,
                run_id="manual__2",
                params=params,
                entity="probe",
                phase="check",
                module=name,
                command=["python", "-c", PARALLEL_MODULE],
                project_root=str(tmp_path),
                log=log,
                **extra,
            )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    slow = threading.Thread(
        target=module,
        args=("slow",),
        kwargs={"env": {"WAIT_FOR": str(released)}, "on_start": lambda proc: started.set()},
    )
    slow.start()
    assert started.wait(60), "the slow module never started"
    module("fast")  # downloads after slow did, uploads before it
    released.touch()
    slow.join(60)
    assert not errors and not slow.is_alive(), errors
    for _ in range(2):  # a retried gate rebuilds the log, it does not append it again
        gate_phase(workspace=location, phase="check", modules={"slow": True, "fast": True}, log=log)
        with open_workspace(location) as handle:
            assert handle is not None
            lines = (handle.path / "pipeline-stderr.log").read_text().splitlines()
        assert lines == [
            "[slow] slow first",
            "[slow] slow last",
            "[fast] fast first",
            "[fast] fast last",
        ], lines
    with storage.checkout(location) as handle:
        handle.remove()
