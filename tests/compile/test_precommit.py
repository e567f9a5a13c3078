"""The published pre-commit hooks, run for real by pre-commit on a broken and a clean spec.

pre-commit builds the hooks' environment from this repository (pip installs dagspec and its
three dependencies from the package index), so the first run takes a little while.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "specs"


@pytest.fixture(scope="module")
def consumer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another repository that uses dagspec's hooks."""
    repo = tmp_path_factory.mktemp("consumer")
    shutil.copy(CASES / "dagspec.yaml", repo / "dagspec.yaml")
    (repo / "specs").mkdir()
    shutil.copy(CASES / "valid" / "alpha.yaml", repo / "specs" / "alpha.yaml")
    shutil.copy(CASES / "invalid" / "misspelt-key.yaml", repo / "specs" / "broken.yaml")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def try_repo(consumer: Path, hook: str, *files: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(consumer.parent / "pre-commit-home")}
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook, "--verbose",
               *(["--files", *files] if files else ["--all-files"])]
    return subprocess.run(command, cwd=consumer, env=env, capture_output=True, text=True,
                          timeout=600)


def test_lint_hook_fails_on_a_broken_spec_with_its_location(consumer: Path) -> None:
    done = try_repo(consumer, "dagspec-lint", "specs/broken.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "specs/broken.yaml:10:11: error[DS101 unknown-key]" in done.stdout


def test_lint_hook_passes_a_clean_spec(consumer: Path) -> None:
    done = try_repo(consumer, "dagspec-lint", "specs/alpha.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout
