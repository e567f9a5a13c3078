"""The compiler installs without Airflow (`pip install .`, no extras) for CI and pre-commit:
every `dagspec` command either works there or says in one line which extra it needs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

# One invocation per command, run in a project made by `dagspec init` (committed to git).
COMMANDS = {
    "init": ["init", "../another"],  # beside the project: init refuses one inside it
    "lint": ["lint"],
    "compile": ["compile"],
    "render": ["render", "specs/example-entity.yaml"],
    "graph": ["graph"],
    "plan": ["plan", "--base", "HEAD"],
    "schema": ["schema"],
    "run": ["run", "example-entity", "--target", "dev"],
    "meta": ["meta", "list"],
}
NEEDS_EXTRA = {"run": "run", "meta": "run"}

LIST_COMMANDS = """
import json
from dagspec.cli import _parser
parser = _parser()
action = next(a for a in parser._actions if a.dest == "command")
print(json.dumps(sorted(action.choices)))
"""


def _dagspec(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python.parent / "dagspec"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def project(compiler_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compiler-only") / "shop"
    done = _dagspec(compiler_python, folder.parent, "init", "shop")
    assert done.returncode == 0, done.stderr
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    subprocess.run([*git, "add", "-A"], cwd=folder, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=folder, check=True)
    return folder


def test_the_venv_has_neither_airflow_nor_the_runtime(compiler_python: Path) -> None:
    probe = "import importlib.util as u; print([m for m in ('airflow', 'dagspec_runtime', "
    probe += "'sqlalchemy') if u.find_spec(m)])"
    done = subprocess.run([str(compiler_python), "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_every_command_is_covered(compiler_python: Path) -> None:
    done = subprocess.run(
        [str(compiler_python), "-c", LIST_COMMANDS], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == sorted(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_works_or_names_its_extra(
    compiler_python: Path, project: Path, command: str
) -> None:
    done = _dagspec(compiler_python, project, *COMMANDS[command])
    if command not in NEEDS_EXTRA:
        assert done.returncode == 0, done.stdout + done.stderr
        return
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"dagspec {command}: needs the Python module")
    assert f"pip install 'dagspec[{NEEDS_EXTRA[command]}]'" in lines[0]
    assert done.stdout == ""
