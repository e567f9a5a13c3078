"""Lint is the gate: what used to slip past `dagspec lint` is now a finding at its cause.

Each test is one reported way a broken spec passed lint (or was reported in the wrong place);
each asserts the exact file:line:column and code a user sees.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from compiler import api
from compiler.cli import main

CASES = Path(__file__).resolve().parents[1] / "specs"
ENTITY = """\
apiVersion: dagspec/v1
kind: Entity
metadata:
  name: {name}
spec:
  schedule: {schedule}
  catchup: false
  phases:
    - name: pull
      modules:
        - {{name: fetch, command: [python, fetch.py], outputs: [pull/a.json]}}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The spec cases' valid project, with room for one more entity `gamma`."""
    root = tmp_path / "project"
    shutil.copytree(CASES, root, ignore=shutil.ignore_patterns("invalid"))
    config = root / "dagspec.yaml"
    config.write_text(config.read_text().replace("[alpha, beta, broken, other]",
                                                 "[alpha, beta, gamma]"))
    return root


def _lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if ": error[" in line or ": warning[" in line]


@pytest.mark.parametrize(("schedule", "col", "why"), [
    ('"0 25 * * *"', 13, "hour 25 is out of range (0-23)"),
    ('"75 26 * * *"', 13, "minute 75 is out of range (0-59)"),
    ("'0 0 * * 8'", 13, "day of week 8 is out of range (0-7)"),
    ('"0 0 30 2 *"', 13, "it never fires"),
])
def test_impossible_cron_is_a_lint_error_at_the_value_and_compiles_nothing(
        project: Path, capsys: pytest.CaptureFixture[str], schedule: str, col: int,
        why: str) -> None:
    (project / "valid" / "gamma.yaml").write_text(ENTITY.format(name="gamma", schedule=schedule))
    assert main(["--project", str(project), "lint", str(project / "valid" / "gamma.yaml")]) == 1
    (line,) = _lines(capsys.readouterr().out)
    assert line.startswith(f"valid/gamma.yaml:6:{col}: error[DS105 bad-format] spec.schedule: ")
    assert why in line
    assert main(["--project", str(project), "compile"]) == 1
    assert not (project / "out" / "gamma.py").exists()


def test_presets_and_good_cron_pass(project: Path) -> None:
    for i, schedule in enumerate(["'@daily'", "'@quarterly'", "'*/15 8-18 * * MON-FRI'",
                                  "'0 0 29 2 *'", "'@once'"]):
        (project / "valid" / "gamma.yaml").write_text(ENTITY.format(name="gamma",
                                                                    schedule=schedule))
        assert api.lint(project, [project / "valid" / "gamma.yaml"]) == [], (i, schedule)


NAN_SPEC = """\
apiVersion: dagspec/v1
kind: Entity
metadata:
  name: gamma
spec:
  params:
    ratio: {type: number, default: .nan}
  phases:
    - name: pull
      modules:
        - {name: fetch, command: [python, fetch.py], outputs: [pull/a.json]}
"""


@pytest.mark.parametrize("command", ["lint", "render", "compile"])
def test_nan_is_a_located_error_in_lint_render_and_compile(
        project: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    spec = project / "valid" / "gamma.yaml"
    spec.write_text(NAN_SPEC)
    args = {"lint": ["lint", str(spec)], "render": ["render", str(spec)],
            "compile": ["compile"]}[command]
    assert main(["--project", str(project), *args]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = _lines(captured.out + captured.err)
    assert ("valid/gamma.yaml:7:36: error[DS206 unsafe-value] spec.params.ratio.default: "
            "nan is not a finite number") in lines
