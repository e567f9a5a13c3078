"""Promotion: copy workspace artifacts to their project paths, all or nothing.

Only a clean run (ok/warning, not a dry run) is promoted; otherwise the project stays exactly as
it was, which is the whole point of working in a workspace. Every mapping entry is checked before
anything is written: sources must stay inside the workspace and destinations inside the project
root (no absolute paths, no ``..``, no symlinks leading out). Files are staged as temp files next
to their destinations and then renamed; if anything fails, renamed files are restored from
backups, so destinations end up unchanged.
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dagspec_runtime import ownership
from dagspec_runtime.entity import schema
from dagspec_runtime.entity.files import file_mode, write_json
from dagspec_runtime.entity.gate import read_phase_results
from dagspec_runtime.entity.status import pipeline_status, promotable
from dagspec_runtime.entity.workspace import open_workspace, run_params, workspace_info
from dagspec_runtime.errors import StepFailed, StepSkipped

REPORT_NAME = "promote-report.json"
STALE_RESULT_PATH = "models/{entity}/pipeline-result.json"  # result.DEFAULT_RESULT_PATH
DEFAULT_REPORT_PATH = "models/{entity}/promote-report.json"


class PromotionError(Exception):
    """A mapping entry is unsafe or a file could not be promoted."""


def expand(path: str, entity: str) -> str:
    """Fill the ``{entity}`` placeholder (plain replace: no other braces are interpreted)."""
    return path.replace("{entity}", entity)


def contained(root: Path, relative: str, what: str) -> Path:
    """``root/relative`` resolved, refusing anything that could leave ``root``."""
    pure = PurePosixPath(relative)
    if not relative or pure.is_absolute() or Path(relative).is_absolute():
        raise PromotionError(f"{what} {relative!r} must be a relative path")
    if ".." in pure.parts:
        raise PromotionError(f"{what} {relative!r} must not contain '..'")
    real_root = root.resolve()
    resolved = (real_root / pure).resolve()
    if not resolved.is_relative_to(real_root):
        raise PromotionError(
            f"{what} {relative!r} escapes {real_root} through a symlink (points to {resolved})"
        )
    return resolved


@dataclass
class Entry:
    """One file to promote: where it comes from and where it goes."""

    source: str
    destination: str
    source_path: Path
    destination_path: Path


def plan(
    workspace: Path, project_root: Path, mapping: Mapping[str, str], entity: str
) -> tuple[list[Entry], list[str]]:
    """Check every mapping entry, then split into (entries to copy, missing sources skipped)."""
    checked = []
    for source, destination in mapping.items():
        source = expand(source, entity)
        destination = expand(destination, entity)
        source_path = contained(workspace, source, "promotion source")
        destination_path = contained(project_root, destination, "promotion destination")
        checked.append(Entry(source, destination, source_path, destination_path))
    entries, skipped = [], []
    for entry in checked:
        if entry.source_path.is_file():
            entries.append(entry)
        else:
            skipped.append(entry.source)
    return entries, skipped


def _make_parents(directory: Path, created: list[Path]) -> None:
    """mkdir -p that remembers what it made, so a rollback can remove it again."""
    missing = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


class _Transaction:
    """Stage files next to their destinations, then swap them in; undo everything on error."""

    def __init__(self) -> None:
        self.staged: list[tuple[Path, Path]] = []  # (temp file, destination)
        self.created_dirs: list[Path] = []
        self.committed: list[tuple[Path, Path | None]] = []  # (destination, backup or None)
        self.removals: list[Path] = []

    def stage(self, destination: Path, write: Callable[[Path], None]) -> None:
        if destination.is_dir():
            raise PromotionError(f"destination {destination} is a directory")
        _make_parents(destination.parent, self.created_dirs)
        fd, name = tempfile.mkstemp(
            prefix=f".{destination.name}.", suffix=".promote", dir=destination.parent
        )
        os.fchmod(fd, file_mode())
        os.close(fd)
        temp = Path(name)
        ownership.record_debris(temp)  # removed by the run's end should this process be killed
        self.staged.append((temp, destination))
        write(temp)

    def stage_removal(self, destination: Path) -> None:
        """Remove ``destination`` with the commit (restored by a rollback)."""
        self.removals.append(destination)

    def commit(self) -> None:
        for destination in self.removals:
            if destination.is_file():
                backup: Path | None = destination.with_name(
                    f".{destination.name}.{uuid.uuid4().hex}.bak"
                )
                os.link(destination, backup)
                ownership.record_debris(backup)
                self.committed.append((destination, backup))
                destination.unlink()
        for temp, destination in self.staged:
            backup = None
            if destination.exists():
                backup = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.bak")
                os.link(destination, backup)
            if backup is not None:
                ownership.record_debris(backup)
            self.committed.append((destination, backup))
            os.replace(temp, destination)
        for _, backup in self.committed:
            if backup is not None:
                backup.unlink(missing_ok=True)
        self._forget()

    def _forget(self) -> None:
        for temp, _ in self.staged:
            ownership.forget_debris(temp)
        for _, backup in self.committed:
            if backup is not None:
                ownership.forget_debris(backup)

    def rollback(self) -> None:
        for destination, backup in reversed(self.committed):
            if backup is not None and backup.exists():
                # rename() between two links of one file is a no-op, hence the unlink after it
                os.replace(backup, destination)
                backup.unlink(missing_ok=True)
            elif backup is None:
                destination.unlink(missing_ok=True)
        for temp, _ in self.staged:
            temp.unlink(missing_ok=True)
        for directory in reversed(self.created_dirs):
            with contextlib.suppress(OSError):
                directory.rmdir()
        self._forget()


def promote(
    workspace: Path,
    project_root: Path,
    mapping: Mapping[str, str],
    entity: str,
    report_path: str | None = DEFAULT_REPORT_PATH,
) -> dict[str, Any]:
    """Copy mapped workspace files into the project atomically; return the promote report.

    The report beside the artifacts (``report_path``) is part of the same transaction.
    Raises ``PromotionError`` (project unchanged) on an unsafe mapping or any I/O failure.
    """
    entries, skipped = plan(workspace, project_root, mapping, entity)
    report_target = (
        contained(project_root, expand(report_path, entity), "promote report path")
        if report_path
        else None
    )
    promoted: list[dict[str, str]] = []
    transaction = _Transaction()
    try:
        for entry in entries:
            target = entry.destination_path
            if target.is_file() and filecmp.cmp(entry.source_path, target, shallow=False):
                action = "unchanged"
            else:
                action = "updated" if target.exists() else "wrote"
                source_path = entry.source_path

                def copy(temp: Path, source_path: Path = source_path) -> None:
                    shutil.copyfile(source_path, temp)
                    shutil.copymode(source_path, temp)

                transaction.stage(target, copy)
            promoted.append(
                {"source": entry.source, "destination": entry.destination, "action": action}
            )
        report = {
            "entity_id": entity,
            "status": "promoted",
            "promoted": promoted,
            "skipped": skipped,
        }
        schema.check("promote-report", report, "promote report")
        if report_target is not None:
            text = json.dumps(report, indent=2, sort_keys=True) + "\n"
            transaction.stage(report_target, lambda temp: temp.write_text(text, encoding="utf-8"))
        # the previous run's result must not stand beside this run's artifacts should this run
        # end before its own result is written
        transaction.stage_removal(
            contained(project_root, expand(STALE_RESULT_PATH, entity), "result path")
        )
        transaction.commit()
    except PromotionError:
        transaction.rollback()
        raise
    except OSError as exc:
        transaction.rollback()
        raise PromotionError(f"{exc.__class__.__name__}: {exc}") from exc
    except BaseException:  # interrupted, timed out: the project stays as it was
        transaction.rollback()
        raise
    return report


def run_status(workspace: Path) -> tuple[str, list[dict[str, Any]]]:
    """The run's status so far, from the phase results the gates wrote."""
    phases = read_phase_results(workspace, list(workspace_info(workspace)["phases"]))
    return pipeline_status(p["status"] for p in phases), phases


def _promote_run(
    *,
    workspace: Path | None,
    params: Mapping[str, Any],
    entity: str,
    project_root: str,
    mapping: Mapping[str, str],
    report_path: str | None = DEFAULT_REPORT_PATH,
    log: logging.Logger,
) -> dict[str, Any]:
    """Promote a clean run's artifacts; ``StepSkipped`` (with a report saying why) otherwise."""
    if workspace is None:
        raise StepSkipped("nothing to promote: the workspace was never created")
    _, dry_run, _ = run_params({"params": params})
    status, _ = run_status(workspace)
    if not promotable(status, dry_run):
        reason = "dry run" if dry_run else f"run status is {status}"
        _record(workspace, entity, "skipped", reason)
        raise StepSkipped(f"not promoting {entity}: {reason}")
    try:
        report = promote(workspace, Path(project_root), mapping, entity, report_path)
    except PromotionError as exc:
        _record(workspace, entity, "failed", str(exc))
        raise StepFailed(f"promotion of {entity} failed, project files unchanged: {exc}") from exc
    write_json(workspace / REPORT_NAME, report)
    for row in report["promoted"]:
        log.info("%-9s %s -> %s", row["action"], row["source"], row["destination"])
    for source in report["skipped"]:
        log.info("skipped   %s (not in workspace)", source)
    return report


def _record(workspace: Path, entity: str, status: str, reason: str) -> None:
    write_json(
        workspace / REPORT_NAME,
        {"entity_id": entity, "status": status, "reason": reason, "promoted": [], "skipped": []},
    )


def promote_run(*, workspace: str | os.PathLike[str] | None, **kwargs: Any) -> dict[str, Any]:
    """Promote a clean run's artifacts (see ``_promote_run``).

    ``workspace`` is the location ``prepare_workspace`` returned (None: it never ran); the step
    works on its local view (see ``workspace.open_workspace``), so both run paths and every
    declared storage behave alike."""
    with open_workspace(workspace) as handle:
        return _promote_run(workspace=handle.path if handle else None, **kwargs)
