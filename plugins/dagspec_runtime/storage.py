"""Declared storage for run state: where entity workspaces and ETL run folders live.

``dagspec.yaml`` (``spec.storage.url``) names one of three kinds:

- ``None`` (the embedded default): a local folder on whichever machine runs the task. Right for
  one machine (``dag.test()``, LocalExecutor); on a cluster a task elsewhere cannot see it, and
  says so instead of reading a stale or missing folder.
- an absolute path: a shared folder every worker mounts (NFS, EFS, GCS-FUSE, ...).
- an object store URL (``s3://bucket/prefix``): read and written through Airflow's
  ``ObjectStoragePath`` with the Airflow connection ``conn_id``.

Shared and object storage carry a marker object at their root (``.dagspec-storage.json``, written
once by ``init``, e.g. by scripts/airflow-up.sh). Every task checks it first, so a worker that
lacks the mount (or the bucket) fails at once with :class:`StorageUnavailable` naming the worker,
the storage and the fix.

Tasks work on a local folder either way: :func:`checkout` yields the location itself for a
folder, and for an object URL a private temp copy that is downloaded first and whose new or
changed files are uploaded when the task's work is done (also when it failed: a module's error
result must reach the gate). Everything here is plain Python; Airflow is imported only for
object URLs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MARKER = ".dagspec-storage.json"
WORKSPACES = "workspaces"
RUNS = "runs"
LOCAL, SHARED, OBJECT = "local", "shared", "object"
CONN_ENV = "DAGSPEC_STORAGE_CONN_ID"


class StorageUnavailable(RuntimeError):
    """This worker cannot see the run's declared storage (mount or bucket missing)."""


def is_url(location: str | os.PathLike[str] | None) -> bool:
    """True for ``scheme://...`` locations (object storage), False for paths."""
    return bool(location) and "://" in str(location)


def kind_of(url: str | None) -> str:
    if not url:
        return LOCAL
    return OBJECT if is_url(url) else SHARED


def join(location: str, *parts: str) -> str:
    """Append path parts to a folder path or an object URL."""
    return "/".join([str(location).rstrip("/"), *parts])


def worker_name() -> str:
    return socket.gethostname()


# --- object store access (lazy Airflow import) ------------------------------------------------


def _object_path(url: str, conn_id: str | None = None) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url, conn_id=conn_id or os.environ.get(CONN_ENV) or None)


def _fs_and_key(url: str, conn_id: str | None = None) -> tuple[Any, str]:
    path = _object_path(url, conn_id)
    return path.fs, path.path.rstrip("/")


# --- the marker ------------------------------------------------------------------------------


def init(url: str, conn_id: str | None = None) -> str:
    """Write the marker at the storage root (idempotent); return where it is.

    A shared folder must already exist (it is a mount point: creating it would hide a missing
    mount); an object store prefix is created by writing the marker.
    """
    kind = kind_of(url)
    if kind == LOCAL:
        raise ValueError("local storage needs no marker")
    document = json.dumps(
        {
            "storage": url,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "created_by": worker_name(),
        },
        indent=2,
    )
    marker = join(url, MARKER)
    if kind == SHARED:
        root = Path(url)
        if not root.is_dir():
            raise StorageUnavailable(f"shared storage {url} does not exist on {worker_name()}")
        if not (root / MARKER).exists():
            (root / MARKER).write_text(document + "\n", encoding="utf-8")
        return marker
    fs, key = _fs_and_key(marker, conn_id)
    if not fs.exists(key):
        fs.pipe_file(key, document.encode())
    return marker


def check(url: str | None, conn_id: str | None = None) -> None:
    """Raise :class:`StorageUnavailable` unless this worker sees the storage's marker."""
    kind = kind_of(url)
    if kind == LOCAL:
        return
    assert url is not None
    marker = join(url, MARKER)
    try:
        if kind == SHARED:
            found = Path(marker).is_file()
        else:
            fs, key = _fs_and_key(marker, conn_id)
            found = fs.exists(key)
        problem = "" if found else "its marker is missing"
    except Exception as exc:  # an unreachable endpoint or missing credentials: same verdict
        found, problem = False, f"{type(exc).__name__}: {exc}"
    if not found:
        raise StorageUnavailable(
            f"worker {worker_name()!r} cannot see the declared run storage {url} ({problem}: "
            f"{marker}). Every worker must mount the storage that dagspec.yaml declares in "
            "spec.storage.url (run `python -m dagspec_runtime.storage init URL` once after "
            "creating it)."
        )


def missing_state(location: str, what: str) -> StorageUnavailable:
    """The error for run state an upstream task wrote but this worker cannot find."""
    if is_url(location):
        hint = "the object store or its credentials are not available here"
    else:
        root = declared_root(Path(location))
        if root is None:
            hint = (
                "the run's state is on a local disk of another worker; declare shared or "
                "object storage in dagspec.yaml (spec.storage.url) for a multi-worker deployment"
            )
        elif not (root / MARKER).is_file():
            hint = (
                f"the declared run storage {root} (spec.storage.url) is not mounted on this "
                "worker; mount it there, at the same path as on every other worker"
            )
        else:
            hint = f"it is missing from the declared run storage {root}"
    return StorageUnavailable(f"worker {worker_name()!r} cannot find {what} {location}: {hint}")


def declared_root(location: Path) -> Path | None:
    """The declared storage a path of run state lies in (``<url>/workspaces/...`` or
    ``<url>/runs/...``), None for a worker's local folder."""
    for parent in location.parents:
        if parent.name in (WORKSPACES, RUNS) and parent.parent != parent:
            return parent.parent
    return None


# --- a task's local view of a folder -----------------------------------------------------------


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file():
            stat = path.stat()
            found[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found


@dataclass
class Checkout:
    """A folder of run state as a local path, wherever it is stored."""

    location: str
    path: Path
    conn_id: str | None = None
    removed: bool = False
    _before: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        return is_url(self.location)

    def upload(self) -> list[str]:
        """Copy new or changed files back to the object store; return their relative paths."""
        if not self.remote or self.removed:
            return []
        fs, key = _fs_and_key(self.location, self.conn_id)
        changed = [rel for rel, sig in _snapshot(self.path).items() if self._before.get(rel) != sig]
        for rel in changed:
            fs.put_file(str(self.path / rel), f"{key}/{rel}")
        self._before = _snapshot(self.path)
        return changed

    def remove(self) -> None:
        """Delete the folder where it is stored (and the local copy)."""
        self.removed = True
        if self.remote:
            fs, key = _fs_and_key(self.location, self.conn_id)
            with contextlib.suppress(FileNotFoundError):
                fs.rm(key, recursive=True)
        shutil.rmtree(self.path, ignore_errors=True)


def _download(location: str, target: Path, conn_id: str | None) -> bool:
    """Fetch every object under ``location`` into ``target``; False if there is none."""
    fs, key = _fs_and_key(location, conn_id)
    keys = [k for k in fs.find(key) if k.rstrip("/") != key]
    for found in keys:
        rel = found[len(key) :].lstrip("/")
        if not rel or found.endswith("/"):
            continue
        local = target / rel
        local.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(found, str(local))
    return bool(keys)


@contextlib.contextmanager
def checkout(
    location: str,
    *,
    conn_id: str | None = None,
    required: str | None = None,
    create: bool = False,
    local: Path | None = None,
) -> Iterator[Checkout]:
    """Yield ``location`` as a local folder; write back what changed when the block ends.

    :param required: a file (relative) that must exist, e.g. ``workspace.json``; when it does
        not, :class:`StorageUnavailable` is raised instead of working on an empty folder.
    :param create: make the folder if it does not exist yet.
    :param local: where to put the local copy of an object URL (default: a fresh temp folder,
        removed afterwards; a given folder is left for the caller).
    """
    if not is_url(location):
        path = Path(location)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        if required and not (path / required).is_file():
            raise missing_state(location, f"{required} in")
        yield Checkout(location, path, conn_id)
        return
    owned = local is None
    local = local or Path(tempfile.mkdtemp(prefix="dagspec-checkout-"))
    local.mkdir(parents=True, exist_ok=True)
    try:
        _download(location, local, conn_id)
        if required and not (local / required).is_file():
            raise missing_state(location, f"{required} in")
        handle = Checkout(location, local, conn_id, _before=_snapshot(local))
        try:
            yield handle
        finally:
            handle.upload()
    finally:
        if owned:
            shutil.rmtree(local, ignore_errors=True)


def workspace_root(url: str | None) -> str | None:
    """Where workspaces go in declared storage (None: the local default applies)."""
    return join(url, WORKSPACES) if url else None


def run_root(url: str | None) -> str | None:
    """Where ETL run folders go in declared storage (None: the local default applies)."""
    return join(url, RUNS) if url else None


def main(argv: list[str]) -> int:
    """``python -m dagspec_runtime.storage init|check URL [CONN_ID]``."""
    if len(argv) not in (3, 4) or argv[1] not in ("init", "check"):
        print("usage: python -m dagspec_runtime.storage init|check URL [CONN_ID]")
        return 2
    conn_id = argv[3] if len(argv) == 4 else None
    try:
        if argv[1] == "init":
            print(init(argv[2], conn_id))
        else:
            check(argv[2], conn_id)
            print(f"{argv[2]}: visible from {worker_name()}")
    except StorageUnavailable as exc:
        print(exc)
        return 1
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv))
