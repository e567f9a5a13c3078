"""The command line contract: exit codes and output people and CI scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dagspec.cli import main

CASES = Path(__file__).resolve().parents[1] / "specs"


def test_lint_clean_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--project", str(CASES), "lint", str(CASES / "valid")]) == 0
    assert "no findings" in capsys.readouterr().out


def test_lint_errors_exit_2_with_location_caret_and_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CASES / "invalid" / "misspelt-key.yaml"
    assert main(["--project", str(CASES), "lint", str(case)]) == 2
    out = capsys.readouterr().out
    assert (
        "invalid/misspelt-key.yaml:10:11: error[DS101 unknown-key] "
        "spec.phases[0].modules[0].comand: unknown key `comand`" in out
    )
    assert "   10 |           comand: [python, fetch.py]\n      |           ^" in out
    assert "help: did you mean `command`?" in out


def test_lint_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES / "invalid" / "wrong-type.yaml"
    assert main(["--project", str(CASES), "lint", "--format", "json", str(case)]) == 2
    (finding,) = json.loads(capsys.readouterr().out)
    assert finding["line"] == 11 and finding["col"] == 28
    assert finding["path"] == "spec.phases[0].modules[0].timeout_seconds"
    assert finding["rule"] == "wrong-type"


def test_missing_path_is_a_usage_error() -> None:
    assert main(["--project", str(CASES), "lint", "does/not/exist.yaml"]) == 2


def test_schema_export_writes_every_schema(tmp_path: Path) -> None:
    assert main(["schema", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "entity.schema.json" in names and "project.schema.json" in names
    schema = json.loads((tmp_path / "entity.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_render_prints_the_dag_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--project", str(project), "render", str(project / "valid" / "alpha.yaml")]) == 0
    assert 'dag_id="alpha"' in capsys.readouterr().out


def test_lint_of_the_project_config_checks_it_as_the_config(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project / "dagspec.yaml"
    assert main(["--project", str(project), "lint", str(config)]) == 0
    config.write_text(config.read_text().replace("targets:", "targts:"))
    assert main(["--project", str(project), "lint", str(config)]) == 2
    assert "dagspec.yaml:10:3: error[DS101 unknown-key] spec.targts" in capsys.readouterr().out


def test_lint_with_warnings_only_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """Warnings never fail a lint (issue #21: error findings exit 2, warnings alone 0)."""
    case = CASES / "invalid" / "warn-implicit-catchup.yaml"
    assert main(["--project", str(CASES), "lint", str(case)]) == 0
    out = capsys.readouterr().out
    assert "warning[DS220 implicit-catchup]" in out and "0 error(s), 1 warning(s)" in out
