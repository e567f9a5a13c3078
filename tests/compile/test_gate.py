"""Lint is the gate: what used to slip past `dagspec lint` is now a finding at its cause.

Each test is one reported way a broken spec passed lint (or was reported in the wrong place);
each asserts the exact file:line:column and code a user sees.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from compiler import api
from dagspec.cli import main

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
    config.write_text(
        config.read_text().replace("[alpha, beta, broken, other]", "[alpha, beta, gamma]")
    )
    return root


def _lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if ": error[" in line or ": warning[" in line]


@pytest.mark.parametrize(
    ("schedule", "col", "why"),
    [
        ('"0 25 * * *"', 13, "hour 25 is out of range (0-23)"),
        ('"75 26 * * *"', 13, "minute 75 is out of range (0-59)"),
        ("'0 0 * * 8'", 13, "day of week 8 is out of range (0-7)"),
        ('"0 0 30 2 *"', 13, "it never fires"),
    ],
)
def test_impossible_cron_is_a_lint_error_at_the_value_and_compiles_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], schedule: str, col: int, why: str
) -> None:
    (project / "valid" / "gamma.yaml").write_text(ENTITY.format(name="gamma", schedule=schedule))
    assert main(["--project", str(project), "lint", str(project / "valid" / "gamma.yaml")]) == 2
    (line,) = _lines(capsys.readouterr().out)
    assert line.startswith(f"valid/gamma.yaml:6:{col}: error[DS105 bad-format] spec.schedule: ")
    assert why in line
    assert main(["--project", str(project), "compile"]) == 2
    assert not (project / "out" / "gamma.py").exists()


def test_presets_and_good_cron_pass(project: Path) -> None:
    for i, schedule in enumerate(
        ["'@daily'", "'@quarterly'", "'*/15 8-18 * * MON-FRI'", "'0 0 29 2 *'", "'@once'"]
    ):
        (project / "valid" / "gamma.yaml").write_text(
            ENTITY.format(name="gamma", schedule=schedule)
        )
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
    project: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    spec = project / "valid" / "gamma.yaml"
    spec.write_text(NAN_SPEC)
    args = {"lint": ["lint", str(spec)], "render": ["render", str(spec)], "compile": ["compile"]}[
        command
    ]
    assert main(["--project", str(project), *args]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = _lines(captured.out + captured.err)
    assert (
        "valid/gamma.yaml:7:36: error[DS206 unsafe-value] spec.params.ratio.default: "
        "nan is not a finite number"
    ) in lines


def test_a_copied_spec_linted_alone_reports_the_clash_with_both_places(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cp alpha.yaml a-copy.yaml; dagspec lint a-copy.yaml` used to say "no findings"."""
    shutil.copy(project / "valid" / "alpha.yaml", project / "valid" / "a-copy.yaml")
    for named in ("a-copy.yaml", "alpha.yaml"):
        assert main(["--project", str(project), "lint", str(project / "valid" / named)]) == 2
        assert _lines(capsys.readouterr().out) == [
            f"valid/{here}:4:9: error[DS201 duplicate-name] metadata.name: the name `alpha` "
            f"(the DAG id) is also defined at valid/{there}:4:9"
            for here, there in (("a-copy.yaml", "alpha.yaml"), ("alpha.yaml", "a-copy.yaml"))
        ]


def test_a_double_producer_is_reported_when_either_spec_is_linted(project: Path) -> None:
    text = (project / "valid" / "alpha.yaml").read_text()
    twin = text.replace("name: alpha", "name: gamma").replace(
        "outputs: [pull/data.json]", "outputs: [pull/data.json]\n          outs: [shared.csv]"
    )
    (project / "valid" / "gamma.yaml").write_text(twin)
    other = twin.replace("name: gamma", "name: beta2")
    (project / "valid" / "zeta.yaml").write_text(other)
    config = project / "dagspec.yaml"
    config.write_text(config.read_text().replace("gamma]", "gamma, beta2]"))
    for named in ("gamma.yaml", "zeta.yaml"):
        found = [
            (f.file, f.line, f.col, f.code, f.related)
            for f in api.lint(project, [project / "valid" / named])
            if f.code == "DS210"
        ]
        assert found == [("valid/zeta.yaml", 15, 18, "DS210", (("valid/gamma.yaml", 15, 18),))]


def test_abstract_spec_error_is_reported_once_and_also_for_a_child_linted_alone(
    project: Path,
) -> None:
    config = project / "dagspec.yaml"
    config.write_text(config.read_text().replace("gamma]", "gamma, broken, other]"))
    case = project / "valid" / "family"
    shutil.copytree(CASES / "invalid" / "abstract-error-once", case)
    everything = [f for f in api.lint(project) if f.file.startswith("valid/family/")]
    assert [(f.file, f.line, f.col) for f in everything] == [
        ("valid/family/base-broken.yaml", 13, 64)
    ]
    assert {r[0] for r in everything[0].related} == {
        "valid/family/broken.yaml",
        "valid/family/other.yaml",
    }
    child = api.lint(project, [case / "other.yaml"])
    assert [(f.file, f.line, f.col, f.code) for f in child] == [
        ("valid/family/base-broken.yaml", 13, 64, "DS202")
    ]


def test_typo_reports_unknown_key_with_its_suggestion_before_the_missing_key() -> None:
    findings = api.lint(CASES, [CASES / "invalid" / "misspelt-key.yaml"])
    assert [(f.line, f.col, f.code, f.suggestion) for f in findings] == [
        (10, 11, "DS101", "did you mean `command`?"),
        (10, 11, "DS102", "rename `comand` to `command`"),
    ]


def test_reduction_cycle_is_reported_next_to_the_group_by_finding() -> None:
    findings = api.lint(CASES, [CASES / "invalid" / "reduction-cycle-group-by.yaml"])
    assert [(f.line, f.col, f.code) for f in findings] == [(10, 42, "DS212"), (10, 62, "DS203")]
    assert "a → b → a" in findings[1].message or "b → a → b" in findings[1].message


def test_unclosed_quote_is_reported_at_the_opening_quote(project: Path) -> None:
    lines = (project / "valid" / "alpha.yaml").read_text().splitlines()
    lines[4] = '  owner: "team-a'  # line 5, the quote opens at column 10
    (project / "valid" / "alpha.yaml").write_text("\n".join(lines) + "\n")
    (finding,) = api.lint(project, [project / "valid" / "alpha.yaml"])
    assert (finding.file, finding.line, finding.col, finding.code) == (
        "valid/alpha.yaml",
        5,
        10,
        "DS001",
    )
    assert "quote" in finding.message and "never closed" in finding.message


# --- command-line edges ------------------------------------------------------------------------


def test_compile_specs_must_be_a_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = project / "valid" / "alpha.yaml"
    assert main(["--project", str(project), "compile", "--specs", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err == f"dagspec compile: --specs must be a folder of specs; {spec} is a file\n"


def test_an_empty_folder_has_no_specs(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--project", str(project), "lint", str(empty)]) == 2
    assert capsys.readouterr().err == (
        f"dagspec lint: no specs in {empty} (no *.yaml or *.yml files)\n"
    )
    assert main(["--project", str(project), "compile", "--specs", str(empty)]) == 2
    assert "no specs in" in capsys.readouterr().err


def test_outside_any_project_lint_says_where_it_looked_and_how_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "loose.yaml").write_text(ENTITY.format(name="loose", schedule="null"))
    monkeypatch.chdir(tmp_path)
    for args in (["lint"], ["lint", "loose.yaml"], ["compile"]):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"no dagspec.yaml in {tmp_path.resolve()} or any folder above it" in err
        assert "`dagspec init`" in err


def test_the_next_compile_removes_staging_folders_of_killed_compiles(project: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = project / f".out.new-{dead.pid}"
    leftover.mkdir()
    (leftover / "alpha.py").write_text("# half-written\n")
    single = project / f".out.new-{dead.pid}-alpha.py"  # the one file of an edit-one compile
    single.write_text("# half-written\n")
    (project / "valid" / "gamma.yaml").write_text(ENTITY.format(name="gamma", schedule="null"))
    assert main(["--project", str(project), "compile"]) == 0
    assert not leftover.exists() and not single.exists()
    for name in (f".generated_dags.new-{dead.pid}/x.py", f".generated_dags.new-{dead.pid}-x.py"):
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", name], cwd=CASES.parents[1]
        )
        assert ignored.returncode == 0, f".gitignore does not cover {name}"
