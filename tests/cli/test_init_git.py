"""A `dagspec init` project lives in git with its own pre-commit hooks: a first commit, then a
spec edit recompiled and committed, both pass the hooks; and init never nests a project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
GIT = ["git", "-c", "user.name=dagspec test", "-c", "user.email=test@example.com"]


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PRE_COMMIT_HOME": str(cwd.parent / "pre-commit-home"),
    }
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def commit(project: Path, message: str) -> subprocess.CompletedProcess[str]:
    assert run(project, *GIT, "add", "-A").returncode == 0
    return run(project, *GIT, "commit", "-qm", message)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    done = run(tmp_path, str(BIN / "dagspec"), "init", "shop")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "shop"
    assert run(folder, "git", "init", "-q").returncode == 0
    hooks = run(folder, str(BIN / "pre-commit"), "install")
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    return folder


def test_commit_edit_recompile_commit_passes_the_generated_hooks(project: Path) -> None:
    assert run(project, str(BIN / "dagspec"), "compile").returncode == 0
    first = commit(project, "start")
    assert first.returncode == 0, first.stdout + first.stderr
    tracked = run(project, "git", "ls-files").stdout.split()
    assert not [path for path in tracked if path.startswith(".dagspec/")]
    assert "generated_dags/example-entity.py" in tracked

    spec = project / "specs" / "example-entity.yaml"
    spec.write_text(spec.read_text().replace("in two phases", "in two phases, edited"))
    stale = commit(project, "edit without recompiling")
    assert stale.returncode != 0, "the compile --check hook must refuse stale DAGs"
    assert "stale" in stale.stdout + stale.stderr

    assert run(project, str(BIN / "dagspec"), "compile").returncode == 0
    second = commit(project, "edit")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "edited" in (project / "generated_dags" / "example-entity.py").read_text()


def test_init_refuses_a_project_inside_a_project(project: Path) -> None:
    before = sorted(p.relative_to(project) for p in project.rglob("*") if ".git" not in p.parts)
    for inner in ("specs", "deeper/still"):
        done = run(project, str(BIN / "dagspec"), "init", inner)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"is inside the project {project}" in done.stderr
    after = sorted(p.relative_to(project) for p in project.rglob("*") if ".git" not in p.parts)
    assert after == before
