"""Promotion leaves no debris on any exit path and writes results readable by everyone: an
interrupt mid-promotion rolls back (no temp file, the project unchanged); after `kill -9` the
run's end (the guard's `ownership.end_run`) removes the staged temp files it recorded; results
and reports are 0644 (less the umask), not mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from dagspec_runtime import ownership
from dagspec_runtime.entity import promote as promote_module
from dagspec_runtime.entity.files import write_json
from dagspec_runtime.entity.promote import promote


def _project(tmp_path: Path) -> tuple[Path, Path]:
    workspace, project = tmp_path / "ws", tmp_path / "project"
    (workspace / "pull").mkdir(parents=True)
    (workspace / "pull" / "a.json").write_text('{"new": 1}')
    (workspace / "pull" / "b.json").write_text('{"new": 2}')
    (project / "models" / "e").mkdir(parents=True)
    (project / "models" / "e" / "a.json").write_text('{"old": 1}')
    return workspace, project


def test_an_interrupt_mid_promotion_rolls_back_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, project = _project(tmp_path)
    copied = []
    real_copy = promote_module.shutil.copyfile

    def copy_then_interrupt(source: Path, target: Path) -> None:
        real_copy(source, target)
        copied.append(target)
        if len(copied) == 2:
            raise KeyboardInterrupt  # SIGINT while staging the second file

    monkeypatch.setattr(promote_module.shutil, "copyfile", copy_then_interrupt)
    mapping = {"pull/a.json": "models/{entity}/a.json", "pull/b.json": "models/{entity}/b.json"}
    with pytest.raises(KeyboardInterrupt):
        promote(workspace, project, mapping, "e")
    left = sorted(p.name for p in (project / "models" / "e").iterdir())
    assert left == ["a.json"], left
    assert (project / "models" / "e" / "a.json").read_text() == '{"old": 1}'


def test_the_runs_end_removes_staged_files_a_killed_promotion_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = ownership.new_tag()
    monkeypatch.setenv(ownership.RUN_TAG_ENV, tag)
    workspace, project = _project(tmp_path)
    transaction = promote_module._Transaction()
    destination = project / "models" / "e" / "a.json"
    transaction.stage(destination, lambda temp: temp.write_text("half"))
    [(temp, _)] = transaction.staged
    assert temp.exists()  # ... and here the process is killed with SIGKILL
    try:
        ownership.end_run(tag)
    finally:
        ownership.discard(tag)
    assert not temp.exists()
    assert destination.read_text() == '{"old": 1}'


def test_results_and_reports_are_readable_by_everyone(tmp_path: Path) -> None:
    workspace, project = _project(tmp_path)
    promote(workspace, project, {"pull/b.json": "models/{entity}/b.json"}, "e")
    mask = os.umask(0o022)
    os.umask(mask)
    want = 0o666 & ~mask
    result = write_json(tmp_path / "pipeline-result.json", {"status": "ok"})
    report = project / "models" / "e" / "promote-report.json"
    for path in (result, report):
        assert stat.S_IMODE(path.stat().st_mode) == want, path


def test_the_previous_runs_result_does_not_stand_beside_new_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, project = _project(tmp_path)
    stale = project / "models" / "e" / "pipeline-result.json"
    stale.write_text('{"run": "previous"}')
    mapping = {"pull/a.json": "models/{entity}/a.json"}
    monkeypatch.setattr(promote_module.os, "replace", _interrupt_on_second(os.replace))
    with pytest.raises(KeyboardInterrupt):  # SIGINT in the middle of the commit
        promote(workspace, project, mapping, "e")
    assert stale.read_text() == '{"run": "previous"}'  # rolled back with the rest
    assert (project / "models" / "e" / "a.json").read_text() == '{"old": 1}'
    monkeypatch.undo()
    promote(workspace, project, mapping, "e")
    assert not stale.exists()  # the new run's own result comes with pipeline_result
    assert (project / "models" / "e" / "a.json").read_text() == '{"new": 1}'


def _interrupt_on_second(real):  # type: ignore[no-untyped-def]
    calls = []

    def replace(source, target):  # type: ignore[no-untyped-def]
        calls.append(target)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(source, target)

    return replace
