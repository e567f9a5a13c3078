"""PipelineResultOperator: the run's verdict, pipeline-result.json, and workspace clean-up.

It runs whatever happened upstream (trigger rule ``all_done``) because a failed run needs its
result file most. The Airflow DAG run's own state follows this task: it fails when the pipeline
status is partial or error, so "red run" and "bad pipeline result" always agree.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagspec_runtime import ownership
from dagspec_runtime.entity import schema
from dagspec_runtime.entity.files import read_json, write_json
from dagspec_runtime.entity.gate import read_phase_results
from dagspec_runtime.entity.promote import REPORT_NAME, contained, expand
from dagspec_runtime.entity.run_identity import join_stderr_parts, run_ids
from dagspec_runtime.entity.status import (
    ERROR,
    NOT_RUN,
    PARTIAL,
    pipeline_status,
    promotable,
)
from dagspec_runtime.entity.workspace import open_workspace, run_params
from dagspec_runtime.errors import StepFailed
from dagspec_runtime.storage import StorageUnavailable

RESULT_NAME = "pipeline-result.json"
DEFAULT_RESULT_PATH = "models/{entity}/pipeline-result.json"


def _phase_rows(
    phases: Mapping[str, Sequence[str]], recorded: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Phase documents in declared order; phases without a gate record list modules not_run."""
    rows = []
    for phase, modules in phases.items():
        document = recorded.get(phase)
        if document is None or (not document.get("modules") and modules):
            document = {
                "name": phase,
                "status": NOT_RUN,
                "modules": [
                    {"name": m, "required": True, "status": NOT_RUN, "duration_ms": None}
                    for m in modules
                ],
            }
        rows.append(document)
    return rows


def _promotion(workspace: Path | None) -> dict[str, Any]:
    """What the promote task recorded; ``not_run`` when it left nothing."""
    path = workspace / REPORT_NAME if workspace else None
    if path is None or not path.is_file():
        return {"status": NOT_RUN}
    try:
        return read_json(path)
    except ValueError:
        return {"status": "failed", "reason": f"unreadable {REPORT_NAME}"}


def build_result(
    *,
    entity: str,
    run_id: str,
    target: str,
    dry_run: bool,
    workspace: Path | None,
    phases: Mapping[str, Sequence[str]],
    airflow_run_id: str | None = None,
) -> dict[str, Any]:
    """Aggregate phase results and the promote report into the pipeline-result document.

    A run whose phases were clean but whose promotion did not happen (failed or never ran,
    outside a dry run) is an error: the project did not get what the run produced.
    """
    recorded = (
        {d["name"]: d for d in read_phase_results(workspace, list(phases))} if workspace else {}
    )
    rows = _phase_rows(phases, recorded)
    status = pipeline_status(row["status"] for row in rows) if workspace else ERROR
    promotion = _promotion(workspace)
    promoted = promotion.get("status") == "promoted"
    if promotable(status, dry_run) and not promoted:
        status = ERROR
    return {
        "entity": entity,
        "run_id": run_id,
        "airflow_run_id": airflow_run_id,
        "target": target,
        "dry_run": dry_run,
        "status": status,
        "workspace": str(workspace) if workspace else None,
        "phases": rows,
        "promoted": promoted,
        "promotion": promotion,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def format_result(result: Mapping[str, Any]) -> str:
    """Plain-text table of phases and modules, for task logs and the local runner."""
    lines = [
        f"entity {result['entity']}  status {result['status']}  target {result['target']}  "
        f"dry_run {result['dry_run']}  promoted {'yes' if result['promoted'] else 'no'}",
        f"{'phase':<12} {'module':<24} {'req':<4} {'status':<8} {'ms':>7}",
    ]
    for phase in result["phases"]:
        lines.append(f"{phase['name']:<12} {'':<24} {'':<4} {phase['status']:<8}")
        for module in phase["modules"]:
            ms = module.get("duration_ms")
            lines.append(
                f"{'':<12} {module['name']:<24} {'yes' if module['required'] else 'no':<4} "
                f"{module['status']:<8} {'' if ms is None else ms:>7}"
            )
    return "\n".join(lines)


def finish_run(
    *,
    workspace: str | os.PathLike[str] | None,
    run_id: str,
    params: Mapping[str, Any],
    entity: str,
    phases: Mapping[str, Sequence[str]],
    project_root: str,
    result_path: str = DEFAULT_RESULT_PATH,
    log: logging.Logger,
) -> dict[str, Any]:
    """Write pipeline-result.json (not into the project on a dry run), remove the workspace
    unless kept; the result, or ``StepFailed`` carrying it when the run was partial or error.

    ``workspace`` is the location ``prepare_workspace`` returned; the result names it (where it
    is stored, not a worker's local copy) and removal deletes it there."""
    keep = run_params({"params": params})[2]
    try:
        with open_workspace(workspace) as handle:
            if handle is not None:
                join_stderr_parts(handle.path)
            result = _record_result(
                handle.path if handle else None,
                run_id=run_id,
                params=params,
                entity=entity,
                phases=phases,
                project_root=project_root,
                result_path=result_path,
                log=log,
                location=handle.location if handle else None,
            )
            if handle is not None and not keep:
                handle.remove()  # last: a retry after this finds the recorded result
                if not handle.remote:
                    ownership.forget_debris(handle.path)
                log.info("Removed workspace %s (set keep_workspace to keep it)", handle.location)
    except StorageUnavailable:
        recorded = recorded_result(project_root, result_path, entity, run_id)
        if recorded is None:
            raise
        log.info("An earlier try recorded this run's result and removed the workspace")
        result = recorded
    if result["status"] in (PARTIAL, ERROR):
        # the modules' outcome is recorded; retrying this task cannot change it
        raise StepFailed(
            f"entity {entity} finished with status {result['status']}", result, retry=False
        )
    return result


def recorded_result(
    project_root: str, result_path: str, entity: str, run_id: str
) -> dict[str, Any] | None:
    """The pipeline result an earlier try of this run wrote into the project, if any."""
    try:
        path = contained(Path(project_root), expand(result_path, entity), "result path")
        result = read_json(path)
    except (OSError, ValueError):
        return None
    if isinstance(result, dict) and result.get("airflow_run_id") == run_id:
        return result
    return None


def _record_result(
    workspace: Path | None,
    *,
    run_id: str,
    params: Mapping[str, Any],
    entity: str,
    phases: Mapping[str, Sequence[str]],
    project_root: str,
    result_path: str,
    log: logging.Logger,
    location: str | None,
) -> dict[str, Any]:
    """Build, check and write pipeline-result.json (into the workspace and the project)."""
    target, dry_run, _ = run_params({"params": params})
    airflow_run_id = run_id  # the runner's id; the run's own is the workspace's UUIDv7
    run_id = run_ids(workspace)[0] if workspace is not None else airflow_run_id
    result = build_result(
        entity=entity,
        run_id=run_id,
        airflow_run_id=airflow_run_id,
        target=target,
        dry_run=dry_run,
        workspace=workspace,
        phases={phase: list(modules) for phase, modules in phases.items()},
    )
    if location is not None:
        result["workspace"] = location  # where it is stored, not this worker's local copy
    schema.check("pipeline-result", result, "pipeline result")
    if workspace is not None:
        write_json(workspace / RESULT_NAME, result)
    if not dry_run:
        destination = contained(Path(project_root), expand(result_path, entity), "result path")
        write_json(destination, result)
        log.info("Pipeline result written to %s", destination)
    log.info("Pipeline result:\n%s", format_result(result))
    return result
