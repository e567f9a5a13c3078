"""The published pre-commit hooks, run for real by pre-commit on a broken and a clean spec.

pre-commit builds the hooks' environment from this repository (pip installs dagspec and its
four dependencies from the package index), so the first run takes a little while.
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
    command = [
        sys.executable,
        "-m",
        "pre_commit",
        "try-repo",
        str(ROOT),
        hook,
        "--verbose",
        *(["--files", *files] if files else ["--all-files"]),
    ]
    return subprocess.run(
        command, cwd=consumer, env=env, capture_output=True, text=True, timeout=600
    )


def test_lint_hook_fails_on_a_broken_spec_with_its_location(consumer: Path) -> None:
    done = try_repo(consumer, "dagspec-lint", "specs/broken.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "specs/broken.yaml:10:11: error[DS101 unknown-key]" in done.stdout


def test_lint_hook_passes_a_clean_spec(consumer: Path) -> None:
    done = try_repo(consumer, "dagspec-lint", "specs/alpha.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout


@pytest.fixture(scope="module")
def flat_consumer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A consumer repository with one committed spec in a flat specs/ folder."""
    repo = tmp_path_factory.mktemp("flat-consumer")
    config = (CASES / "dagspec.yaml").read_text().replace("specs_dir: valid", "specs_dir: specs")
    (repo / "dagspec.yaml").write_text(
        config.replace("output_dir: out", "output_dir: generated_dags")
    )
    (repo / "specs").mkdir()
    shutil.copy(CASES / "valid" / "alpha.yaml", repo / "specs" / "alpha.yaml")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "alpha"], cwd=repo, check=True)
    return repo


def test_lint_hook_refuses_a_new_spec_that_reuses_a_dag_id(flat_consumer: Path) -> None:
    """Only the new file is staged, so only it is passed to the hook: the clash with the
    committed spec must still be found (the whole project is analysed)."""
    shutil.copy(flat_consumer / "specs" / "alpha.yaml", flat_consumer / "specs" / "a-copy.yaml")
    subprocess.run(["git", "add", "specs/a-copy.yaml"], cwd=flat_consumer, check=True)
    env = {**os.environ, "PRE_COMMIT_HOME": str(flat_consumer.parent / "pre-commit-home")}
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "dagspec-lint", "--verbose"],
        cwd=flat_consumer,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "specs/a-copy.yaml:4:9: error[DS201 duplicate-name] metadata.name: the name "
        "`alpha` (the DAG id) is also defined at specs/alpha.yaml:4:9"
    ) in done.stdout
    assert (
        "specs/alpha.yaml:4:9: error[DS201 duplicate-name] metadata.name: the name "
        "`alpha` (the DAG id) is also defined at specs/a-copy.yaml:4:9"
    ) in done.stdout


def test_lint_hook_runs_for_a_config_only_change_and_blocks_a_broken_notify(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A commit that touches only dagspec.yaml: the hook runs, and the finding is located in
    dagspec.yaml (a default notify channel that is not defined)."""
    repo = tmp_path_factory.mktemp("config-consumer")
    config = (CASES / "dagspec.yaml").read_text().replace("specs_dir: valid", "specs_dir: specs")
    broken = config + "  defaults:\n    notify:\n      on_failure: [opz]\n"
    (repo / "dagspec.yaml").write_text(broken)
    (repo / "specs").mkdir()
    shutil.copy(CASES / "valid" / "alpha.yaml", repo / "specs" / "alpha.yaml")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    done = try_repo(repo, "dagspec-lint", "dagspec.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    line = len(broken.splitlines())
    assert (
        f"dagspec.yaml:{line}:20: error[DS202 dangling-reference] "
        "spec.defaults.notify.on_failure[0]: notify channel `opz` is not defined"
    ) in done.stdout
