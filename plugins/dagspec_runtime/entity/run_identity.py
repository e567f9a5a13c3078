"""One run, one id: the UUIDv7 correlation id of seed 000, and the workspace's stderr log.

The id is made once per run (by whoever creates the workspace: the `prepare_workspace` task or
a local runner) and is shared by the workspace name, every module manifest, the context added to
each result envelope and pipeline-result.json. Airflow's own run id (``manual__…``) is recorded
beside it. UUIDv7 ids sort by creation time, so workspaces and results list in run order.

``pipeline-stderr.log`` in the workspace collects every module's stderr, each line prefixed by
the module, as the seed's debugging guide expects. Modules of one phase run in parallel: each
line is one ``write`` to a file opened with O_APPEND, so lines never interleave.

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
WORKSPACE_FILE = "workspace.json"


def new_run_id() -> str:
    """A fresh UUIDv7 (time-ordered) run id."""
    return str(uuid6.uuid7())


def run_ids(workspace: Path) -> tuple[str, str | None]:
    """(run_id, airflow_run_id) recorded in the workspace by whoever created it."""
    info = read_json(workspace / WORKSPACE_FILE)
    return str(info["run_id"]), info.get("airflow_run_id")


def module_manifest(*, entity: str, workspace: Path, target: str, run_id: str, dry_run: bool,
                    inputs: Mapping[str, str], output_dir: str) -> dict[str, Any]:
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


def with_context(envelope: Mapping[str, Any], *, run_id: str, airflow_run_id: str | None,
                 phase: str, workspace: Path) -> dict[str, Any]:
    """The envelope as kept in the workspace: what the module said, plus which run it was."""
    return {**envelope, "context": {"run_id": run_id, "airflow_run_id": airflow_run_id,
                                    "phase": phase, "workspace": str(workspace)}}


class StderrLog:
    """Appends one module's stderr lines to the workspace's ``pipeline-stderr.log``."""

    def __init__(self, workspace: Path, module: str) -> None:
        self.prefix = f"[{module}] "
        self._fd = os.open(workspace / STDERR_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

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
