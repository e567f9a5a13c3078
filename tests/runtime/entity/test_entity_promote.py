"""Promotion safety: containment checks and all-or-nothing copying (no Airflow run needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagspec_runtime.entity import promote as promote_module
from dagspec_runtime.entity.promote import PromotionError, promote


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    workspace = tmp_path / "ws"
    (workspace / "pull").mkdir(parents=True)
    (workspace / "pull" / "model.json").write_text("new model\n")
    (workspace / "pull" / "extra.txt").write_text("new extra\n")
    project = tmp_path / "project"
    project.mkdir()
    return workspace, project


def files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_actions_and_missing_sources(roots):
    workspace, project = roots
    (project / "models" / "e").mkdir(parents=True)
    (project / "models" / "e" / "extra.txt").write_text("new extra\n")
    mapping = {
        "pull/model.json": "models/{entity}/model.json",
        "pull/extra.txt": "models/{entity}/extra.txt",
        "infer/suggestions.json": "models/{entity}/suggestions.json",
    }
    report = promote(workspace, project, mapping, "e", report_path=None)
    assert report["promoted"] == [
        {"source": "pull/model.json", "destination": "models/e/model.json", "action": "wrote"},
        {"source": "pull/extra.txt", "destination": "models/e/extra.txt", "action": "unchanged"},
    ]
    assert report["skipped"] == ["infer/suggestions.json"]
    (workspace / "pull" / "model.json").write_text("newer model\n")
    again = promote(workspace, project, mapping, "e")
    assert again["promoted"][0]["action"] == "updated"
    assert (project / "models/e/model.json").read_text() == "newer model\n"
    assert (project / "models/e/promote-report.json").is_file()


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        ("../secret.txt", "models/x.txt", "must not contain '..'"),
        ("pull/model.json", "models/../../outside.txt", "must not contain '..'"),
        ("/etc/hostname", "models/x.txt", "must be a relative path"),
        ("pull/model.json", "/tmp/outside.txt", "must be a relative path"),
    ],
)
def test_rejects_dotdot_and_absolute_paths(roots, source, destination, message):
    workspace, project = roots
    with pytest.raises(PromotionError, match=message):
        promote(workspace, project, {"pull/extra.txt": "ok.txt", source: destination}, "e")
    assert files(project) == {}  # checked before anything is written


def test_rejects_symlinked_source_leaving_the_workspace(roots, tmp_path):
    workspace, project = roots
    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    (workspace / "pull" / "leak.txt").symlink_to(secret)
    with pytest.raises(PromotionError, match="escapes .* through a symlink"):
        promote(workspace, project, {"pull/leak.txt": "models/leak.txt"}, "e")
    assert files(project) == {}


def test_rejects_destination_through_symlinked_directory(roots, tmp_path):
    workspace, project = roots
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "models").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PromotionError, match="promotion destination 'models/e/model.json' escapes"):
        promote(workspace, project, {"pull/model.json": "models/{entity}/model.json"}, "e")
    assert list(outside.iterdir()) == []


def test_failure_while_staging_leaves_destinations_unchanged(roots):
    workspace, project = roots
    (project / "models").mkdir()
    (project / "models" / "model.json").write_text("old model\n")
    (project / "blocked").write_text("a file where a folder is needed\n")
    before = files(project)
    (workspace / "pull" / "third.txt").write_text("third\n")
    mapping = {  # the first two stage fine, the third cannot: its parent is a file
        "pull/model.json": "models/model.json",
        "pull/extra.txt": "fresh/dir/extra.txt",
        "pull/third.txt": "blocked/third.txt",
    }
    with pytest.raises(PromotionError):
        promote(workspace, project, mapping, "e")
    assert files(project) == before
    assert not (project / "fresh").exists()  # folders made for staging are removed again
    assert not [p for p in project.rglob("*") if p.name.startswith(".")]  # no temp files


def test_failure_while_renaming_restores_what_was_already_swapped(roots, monkeypatch):
    workspace, project = roots
    (project / "a.txt").write_text("old a\n")
    (project / "b.txt").write_text("old b\n")
    before = files(project)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:  # first file already swapped in, second one fails
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(promote_module.os, "replace", flaky_replace)
    with pytest.raises(PromotionError, match="disk full"):
        promote(workspace, project, {"pull/model.json": "a.txt", "pull/extra.txt": "b.txt"}, "e")
    monkeypatch.undo()
    assert files(project) == before
    assert not [p for p in project.rglob("*") if p.name.startswith(".")]
