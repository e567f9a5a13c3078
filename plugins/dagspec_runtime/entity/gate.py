"""PhaseGateOperator: turn a phase's module results into one phase status.

It runs after every module of its phase has finished, whatever their outcome (trigger rule
``all_done``), reads the result files (not task states: the files are the record a user
debugging a workspace sees too), writes ``<workspace>/<phase>/phase-result.json`` and:

- ok / warning / partial -> succeeds, so the next phase runs;
- error                  -> fails, so no later phase runs;
- not_run                -> skipped (an earlier phase stopped the run).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagspec_runtime.entity import schema
from dagspec_runtime.entity.files import read_json, write_json
from dagspec_runtime.entity.module import result_path
from dagspec_runtime.entity.run_identity import join_stderr_parts
from dagspec_runtime.entity.status import ERROR, NOT_RUN, phase_status
from dagspec_runtime.entity.workspace import open_workspace
from dagspec_runtime.errors import StepFailed, StepSkipped

PHASE_RESULT = "phase-result.json"


def phase_result_path(workspace: Path, phase: str) -> Path:
    """Where a gate records its phase's outcome."""
    return workspace / phase / PHASE_RESULT


def read_module_result(workspace: Path, phase: str, module: str) -> dict[str, Any] | None:
    """A module's result envelope, or None when the module left none (never started)."""
    path = result_path(workspace, phase, module)
    if not path.is_file():
        return None
    try:
        document = read_json(path)
    except ValueError:
        return {"status": ERROR, "duration_ms": None, "errors": [f"unreadable {path.name}"]}
    return document if isinstance(document, dict) else None


def evaluate_phase(
    workspace: Path | None, phase: str, modules: Mapping[str, bool]
) -> dict[str, Any]:
    """Build the phase result document from the result files of ``modules`` (name -> required).

    A module without a result counts as not run; if some modules of the phase did run, a
    missing result means the module broke without reporting, which counts as a failure.
    """
    rows: list[dict[str, Any]] = []
    for name, required in modules.items():
        result = read_module_result(workspace, phase, name) if workspace else None
        rows.append(
            {
                "name": name,
                "required": bool(required),
                "status": result.get("status", ERROR) if result else NOT_RUN,
                "duration_ms": result.get("duration_ms") if result else None,
                "errors": list(result.get("errors", [])) if result else [],
            }
        )
    status = phase_status({row["name"]: (row["required"], row["status"]) for row in rows})
    if status != NOT_RUN:
        for row in rows:
            if row["status"] == NOT_RUN:
                row["status"] = ERROR
                row["errors"].append("module left no result (task crashed or was killed)")
        status = phase_status({row["name"]: (row["required"], row["status"]) for row in rows})
    document = {"name": phase, "status": status, "modules": rows}
    schema.check("phase-result", document, f"phase result of {phase!r}")
    return document


def read_phase_results(workspace: Path, phases: list[str]) -> list[dict[str, Any]]:
    """Each phase's recorded result in order; a phase whose gate never wrote one is not_run."""
    documents = []
    for phase in phases:
        path = phase_result_path(workspace, phase)
        try:
            document = read_json(path) if path.is_file() else None
        except ValueError:
            document = None
        if not isinstance(document, dict) or schema.problems("phase-result", document):
            document = {"name": phase, "status": NOT_RUN, "modules": []}
        documents.append(document)
    return documents


def gate_phase(
    *,
    workspace: str | os.PathLike[str] | None,
    phase: str,
    modules: Mapping[str, bool],
    log: logging.Logger,
) -> dict[str, Any]:
    """Record the phase's outcome; ``StepSkipped`` when it never ran, ``StepFailed`` on error
    (so no later phase runs). ``workspace``: the location ``prepare_workspace`` returned."""
    with open_workspace(workspace) as handle:
        if handle is not None:
            join_stderr_parts(handle.path)  # the phase's modules are done: one complete log
        return _decide(handle.path if handle else None, phase, modules, log)


def _decide(
    workspace: Path | None, phase: str, modules: Mapping[str, bool], log: logging.Logger
) -> dict[str, Any]:
    document = evaluate_phase(workspace, phase, modules)
    if workspace is not None:
        write_json(phase_result_path(workspace, phase), document)
    summary = ", ".join(f"{row['name']}={row['status']}" for row in document["modules"])
    log.info("Phase %s: %s (%s)", phase, document["status"], summary)
    if document["status"] == NOT_RUN:
        raise StepSkipped(f"phase {phase!r} did not run: an earlier phase stopped the run")
    if document["status"] == ERROR:
        failed = [row["name"] for row in document["modules"] if row["required"]]
        raise StepFailed(
            f"phase {phase!r} failed: every required module failed ({', '.join(failed)}); "
            "later phases will not run"
        )
    return document
