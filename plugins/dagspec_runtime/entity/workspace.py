"""Per-run workspace: an isolated folder so parallel runs and retries never collide.

Layout: ``<base>/<prefix>-<entity>-<run_id>/<phase>/...`` (the run's UUIDv7, see run_identity)
plus ``workspace.json`` (what the run is), ``pipeline-stderr.log`` and, at the end,
``pipeline-result.json``. Other tasks find the folder through the XCom of
task ``prepare_workspace``.

With declared run storage (``dagspec.yaml`` ``spec.storage.url``, see dagspec_runtime.storage)
the folder lives in ``<storage>/workspaces``: on a shared folder every worker mounts, or in an
object store. Every step opens it through :func:`open_workspace`, a local view checked for its
``workspace.json`` (a worker that cannot see it fails with ``StorageUnavailable``, never works
on an empty or stale folder), written back to the object store when the step is done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagspec_runtime import ownership
from dagspec_runtime import storage as run_storage
from dagspec_runtime.entity.files import read_json, write_json
from dagspec_runtime.entity.run_identity import WORKSPACE_FILE, new_run_id

PREPARE_TASK_ID = "prepare_workspace"
ENTITY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_NAME_RE = ENTITY_RE


def resolve_base(base_dir: str | None, project_root: str | None = None) -> Path:
    """Where workspaces go: ``base_dir`` (relative to ``project_root``) if given.

    Otherwise $RDT_WORKSPACE_DIR > $TMPDIR > /tmp, resolved at run time on the worker, so each
    machine uses its own temp space.
    """
    if base_dir:
        base = Path(base_dir)
        if not base.is_absolute():
            base = Path(project_root or os.getcwd()) / base
        return base
    for variable in ("RDT_WORKSPACE_DIR", "TMPDIR"):
        value = os.environ.get(variable)
        if value:
            return Path(value)
    return Path("/tmp")


def create_workspace(
    entity: str, phases: Sequence[str], base: Path, prefix: str = "rdt", run_id: str | None = None
) -> Path:
    """Make a fresh ``<prefix>-<entity>-<run_id>`` folder with one subfolder per phase; the run
    id is the run's UUIDv7 (a new one when not given)."""
    if not ENTITY_RE.match(entity):
        raise ValueError(f"entity {entity!r} must be letters, digits, '-' or '_'")
    for phase in phases:
        if not _NAME_RE.match(phase):
            raise ValueError(f"phase {phase!r} must be letters, digits, '-' or '_'")
    base.mkdir(parents=True, exist_ok=True)
    run_id = run_id or new_run_id()
    if not _NAME_RE.match(run_id):
        raise ValueError(f"run id {run_id!r} must be letters, digits, '-' or '_'")
    workspace = base / f"{prefix}-{entity}-{run_id}"
    workspace.mkdir()  # exist_ok=False: a clash must never share a folder
    for phase in phases:
        (workspace / phase).mkdir()
    return workspace.resolve()


def run_params(context: Mapping[str, Any]) -> tuple[str, bool, bool]:
    """(target, dry_run, keep_workspace) from the trigger params, with safe defaults."""
    params = context.get("params") or {}
    return (
        str(params.get("target", "dev")),
        bool(params.get("dry_run", False)),
        bool(params.get("keep_workspace", False)),
    )


def workspace_location(context: Mapping[str, Any]) -> str | None:
    """Where ``prepare_workspace`` made this run's workspace (path or URL), None if it never ran."""
    value = context["ti"].xcom_pull(task_ids=PREPARE_TASK_ID)
    return str(value) if value else None


@contextlib.contextmanager
def open_workspace(
    location: str | os.PathLike[str] | None,
) -> Iterator[run_storage.Checkout | None]:
    """The run's workspace as a local folder, wherever it is stored; None if it was never made.

    A workspace that ``prepare_workspace`` made but this worker cannot see raises
    ``StorageUnavailable`` (never an empty or stale folder). Changes are written back to object
    storage when the block ends.
    """
    if not location:
        yield None
        return
    with run_storage.checkout(str(location), required=WORKSPACE_FILE) as handle:
        yield handle


def workspace_info(workspace: Path) -> dict[str, Any]:
    """What ``prepare_workspace`` recorded about the run (entity, phases, ...)."""
    return read_json(workspace / WORKSPACE_FILE)


def prepare(
    *,
    entity: str,
    phases: Sequence[str],
    base_dir: str | None,
    prefix: str,
    project_root: str | None,
    run_id: str,
    params: Mapping[str, Any],
    log: logging.Logger,
    storage: str | None = None,
) -> str:
    """Create the run's workspace with its ``workspace.json``; its location (what later tasks
    read): a local path, a path on the shared storage or an object URL.

    ``storage`` is the declared run storage; workspaces then go to ``<storage>/workspaces`` and
    ``base_dir`` is not used. None: a local folder on this worker.
    """
    target, dry_run, keep = run_params({"params": params})
    run_storage.check(storage)
    root = run_storage.workspace_root(storage)
    if root is None:
        base = resolve_base(base_dir, project_root)
    elif run_storage.is_url(root):
        base = Path(tempfile.mkdtemp(prefix="dagspec-prepare-"))
    else:
        base = Path(root)
    correlation_id = new_run_id()  # the run's UUIDv7; ``run_id`` is the runner's own id
    workspace = create_workspace(entity, phases, base, prefix, correlation_id)
    write_json(
        workspace / WORKSPACE_FILE,
        {
            "entity": entity,
            "phases": list(phases),
            "run_id": correlation_id,
            "airflow_run_id": run_id,
            "target": target,
            "dry_run": dry_run,
            "keep_workspace": keep,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    if not keep and (root is None or not run_storage.is_url(root)):
        ownership.record_debris(workspace)  # an interrupted run removes it too
    if root is not None and run_storage.is_url(root):
        location = run_storage.join(root, workspace.name)
        for phase in phases:  # object stores keep no empty folders
            (workspace / phase / ".keep").touch()
        with run_storage.checkout(location) as handle:
            os.rmdir(handle.path)
            os.rename(workspace, handle.path)
        os.rmdir(base)
        log.info("Workspace for %s: %s", entity, location)
        return location
    log.info("Workspace for %s: %s", entity, workspace)
    return str(workspace)
