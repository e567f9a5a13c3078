"""One run, one id: the UUIDv7 correlation id of seed 000, and the workspace's stderr log.

The id is made once per run (by whoever creates the workspace: the `prepare_workspace` task or
a local runner) and is shared by the workspace name, every module manifest, the context added to
each result envelope and pipeline-result.json. Airflow's own run id (``manual__…``) is recorded
beside it. UUIDv7 ids sort by creation time, so workspaces and results list in run order.

``pipeline-stderr.log`` in the workspace collects every module's stderr, each line prefixed by
the module, as the seed's debugging guide expects. Modules of one phase run in parallel: each
line is one ``write`` to a file opened with O_APPEND, so lines never interleave. On an object
store there is no shared file to append to (each task works on its own downloaded copy, and the
last upload would win), so there each module writes its own part under ``pipeline-stderr.d/``
once, and the phase gate and the result step rebuild ``pipeline-stderr.log`` from all parts
(:func:`join_stderr_parts`; rebuilding, not appending, so a retried gate adds nothing twice).

Pure functions, no Airflow: the operators and the fast local runner call the same code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uuid6

from dagspec_runtime.entity.files import read_json

STDERR_LOG = "pipeline-stderr.log"
STDERR_PARTS = "pipeline-stderr.d"
WORKSPACE_FILE = "workspace.json"


def new_run_id() -> str:
    """A fresh UUIDv7 (time-ordered) run id."""
    return str(uuid6.uuid7())


def run_ids(workspace: Path) -> tuple[str, str | None]:
    """(run_id, airflow_run_id) recorded in the workspace by whoever created it."""
    info = read_json(workspace / WORKSPACE_FILE)
    return str(info["run_id"]), info.get("airflow_run_id")


def module_manifest(
    *,
    entity: str,
    workspace: Path,
    target: str,
    run_id: str,
    dry_run: bool,
    inputs: Mapping[str, str],
    output_dir: str,
) -> dict[str, Any]:
    """The manifest handed to one module (pipeline-manifest schema of seed 000)."""
    return {
        "entity_id": entity,
        "workspace": str(workspace),
        "target": target,
        "run_id": run_id,
        "dry_run": dry_run,
        "inputs": dict(inputs),
        "output_dir": output_dir,
    }


def with_context(
    envelope: Mapping[str, Any],
    *,
    run_id: str,
    airflow_run_id: str | None,
    phase: str,
    workspace: Path,
) -> dict[str, Any]:
    """The envelope as kept in the workspace: what the module said, plus which run it was."""
    return {
        **envelope,
        "context": {
            "run_id": run_id,
            "airflow_run_id": airflow_run_id,
            "phase": phase,
            "workspace": str(workspace),
        },
    }


def stderr_part(workspace: Path, phase: str, module: str) -> Path:
    """A fresh part file for one module run; names sort by when the module started."""
    return workspace / STDERR_PARTS / f"{new_run_id()}.{phase}.{module}.log"


def join_stderr_parts(workspace: Path) -> bool:
    """Rebuild ``pipeline-stderr.log`` from the parts (oldest first); False if there are none.

    The file is replaced atomically and only when its content changes."""
    folder = workspace / STDERR_PARTS
    parts = sorted(folder.glob("*.log")) if folder.is_dir() else []
    if not parts:
        return False
    text = b"".join(part.read_bytes() for part in parts)
    target = workspace / STDERR_LOG
    if target.is_file() and target.read_bytes() == text:
        return True
    scratch = target.with_name(target.name + ".tmp")
    scratch.write_bytes(text)
    scratch.replace(target)
    return True


class StderrLog:
    """Appends one module's stderr lines to the workspace's ``pipeline-stderr.log``, or to
    ``part`` (see :func:`stderr_part`) where the workspace is a copy of an object store's."""

    def __init__(self, workspace: Path, module: str, part: Path | None = None) -> None:
        self.prefix = f"[{module}] "
        target = part or workspace / STDERR_LOG
        target.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, line: str) -> None:
        os.write(self._fd, (self.prefix + line + "\n").encode("utf-8", "replace"))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> StderrLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
