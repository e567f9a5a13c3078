"""Airflow as the oracle: the DAG files a compile would change are parsed by Airflow itself.

The child process is real Airflow 3.3 (DagBag, serialization, the timetable's next run); the
session shares one record of parsed texts (DAGSPEC_AIRFLOW_RECORD, see tests/conftest.py), so
a text is parsed once per session.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from compiler import api
from compiler.output import Plan
from dagspec import airflow_check
from dagspec.cli import main

CASES = Path(__file__).resolve().parents[1] / "specs"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(CASES, root, ignore=shutil.ignore_patterns("invalid"))
    config = root / "dagspec.yaml"
    config.write_text(config.read_text().replace("[alpha, beta, broken, other]", "[alpha, beta]"))
    return root


def _plan(project: Path) -> tuple[api.Analysis, Plan]:
    result = api.compile_project(project, check=True)
    assert result.ok and result.plan is not None
    return result.analysis, result.plan


def test_clean_files_pass_and_are_parsed_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysis, plan = _plan(project)
    assert set(plan.files) >= {"alpha.py", "beta.py"}
    assert airflow_check.gate(analysis, plan) == []

    def no_second_parse(*_: object) -> None:
        raise AssertionError("a text already in the record was parsed again")

    monkeypatch.setattr(airflow_check, "_run_probe", no_second_parse)
    assert airflow_check.gate(analysis, plan) == []


@pytest.mark.parametrize(
    ("edit", "file", "path", "says"),
    [
        # a template that wrote a float where Airflow wants an int: located at the spec key
        (
            ('task_id="fetch",', 'task_id="fetch", priority_weight=2.5,'),
            "valid/alpha.yaml",
            "",
            "priority_weight",
        ),
        # a timetable Airflow refuses: located at the spec's schedule
        (
            ("schedule=None", 'schedule="0 0 30 2 *"'),
            "valid/alpha.yaml",
            "spec.schedule",
            "",
        ),
        # an import error in the file itself
        (("from __future__ import annotations", "import no_such_module_here"), "", "", "No"),
    ],
    ids=["float-argument", "never-fires", "import-error"],
)
def test_what_airflow_refuses_is_a_located_ds230(
    project: Path, edit: tuple[str, str], file: str, path: str, says: str
) -> None:
    """Airflow's verdict on a DAG file a template bug would make (the text is edited as such a
    bug would), mapped back to the spec."""
    analysis, plan = _plan(project)
    text = plan.files["alpha.py"]
    assert edit[0] in text, edit[0]
    broken = Plan(plan.out, files={"alpha.py": text.replace(edit[0], edit[1], 1)})
    findings = airflow_check.gate(analysis, broken)
    assert findings, "Airflow accepted the broken file"
    assert all(f.code == "DS230" and f.file == (file or f.file) for f in findings), findings
    assert any(says in f.message for f in findings), findings
    if path:
        assert any(f.path == path for f in findings), findings


def test_compile_and_lint_run_the_check_by_default(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(airflow_check.SWITCH_ENV, raising=False)
    seen: list[list[str]] = []
    real = airflow_check.gate

    def spy(analysis: api.Analysis, plan: Plan) -> list:
        seen.append(sorted(plan.files))
        return real(analysis, plan)

    monkeypatch.setattr(airflow_check, "gate", spy)
    assert main(["--project", str(project), "lint"]) == 0
    assert main(["--project", str(project), "compile"]) == 0
    assert seen[0] == seen[1] and "alpha.py" in seen[0]
    assert main(["--project", str(project), "compile"]) == 0  # nothing changed: nothing to parse
    assert len(seen) == 2 or seen[2] == []
    assert main(["--project", str(project), "lint", "--no-airflow"]) == 0
    assert len(seen) <= 3
    capsys.readouterr()


def test_without_airflow_the_check_is_skipped_with_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(airflow_check.SWITCH_ENV, raising=False)
    monkeypatch.setattr(airflow_check, "available", lambda: False)
    assert main(["--project", str(project), "compile"]) == 0
    err = capsys.readouterr().err
    assert err.count("the Airflow import check was skipped") == 1
    assert main(["--project", str(project), "lint", "--airflow"]) == 2
    assert "Airflow is not importable" in capsys.readouterr().err


def _weighted(project: Path, *, on_modules: bool) -> None:
    """alpha with `priority_weight` stated on two modules, or only in dagspec.yaml's defaults."""
    spec = project / "valid" / "alpha.yaml"
    text = spec.read_text()
    if on_modules:
        text = text.replace(
            "outputs: [pull/data.json]", "outputs: [pull/data.json]\n          priority_weight: 2"
        )
        text = text.replace(
            "outputs: [build/out.sql]", "outputs: [build/out.sql]\n          priority_weight: 3"
        )
    spec.write_text(text)
    config = project / "dagspec.yaml"
    config.write_text(config.read_text() + "  defaults:\n    priority_weight: 4\n")


@pytest.mark.parametrize(
    ("on_modules", "problem", "file", "path"),
    [
        (  # Airflow's own words: the task's node id names the module that states the value
            True,
            "Airflow cannot import the DAG file: TypeError: 'priority_weight' for task "
            "'build.make' expects <class 'int'>, got <class 'float'> with value 3.5",
            "valid/alpha.yaml",
            "spec.phases[1].modules[0].priority_weight",
        ),
        (  # no module or spec states it: the project's default did
            False,
            "Airflow cannot import the DAG file: TypeError: 'priority_weight' for task "
            "'build.make' expects <class 'int'>, got <class 'float'> with value 4.5",
            "dagspec.yaml",
            "spec.defaults.priority_weight",
        ),
    ],
    ids=["module-level", "project-default"],
)
def test_ds230_is_located_at_the_setting_the_task_inherits(
    project: Path, on_modules: bool, problem: str, file: str, path: str
) -> None:
    """The place comes from the spec path of the level that states the argument for that task
    (the loader's marks), not from the first key of that name anywhere in the spec."""
    _weighted(project, on_modules=on_modules)
    analysis, _ = _plan(project)
    target = next(t for t in analysis.targets if t.name == "alpha")
    task = airflow_check._task_named(problem, "", None)
    finding = airflow_check._located(analysis, target, problem, task)
    assert (finding.code, finding.file, finding.path) == ("DS230", file, path), finding
    doc = analysis.project.doc if file == "dagspec.yaml" else target.sources[0].doc
    assert doc is not None
    assert (finding.line, finding.col) == doc.marks.locate(tuple(_parts(path)))


def _parts(path: str) -> list[object]:
    import re

    return [int(p) if p.isdigit() else p for p in re.findall(r"[A-Za-z_]+|\d+", path)]


def test_ds230_from_airflow_itself_lands_on_the_module_that_states_the_value(
    project: Path,
) -> None:
    """End to end: the DAG file a template bug would make (a float weight on one task) is
    refused by Airflow, and the finding points at that module's own `priority_weight`."""
    _weighted(project, on_modules=True)
    analysis, plan = _plan(project)
    text = plan.files["alpha.py"]
    assert "priority_weight=3," in text, text
    broken = Plan(
        plan.out, files={"alpha.py": text.replace("priority_weight=3,", "priority_weight=3.5,", 1)}
    )
    findings = airflow_check.gate(analysis, broken)
    assert [(f.file, f.path) for f in findings] == [
        ("valid/alpha.yaml", "spec.phases[1].modules[0].priority_weight")
    ], findings


def test_a_traceback_line_names_the_task_group_and_task(project: Path) -> None:
    """Without a node id in Airflow's message, the DAG file's line in the traceback says which
    task was being built: `(task_id: make)` alone would not say which phase."""
    _, plan = _plan(project)
    text = plan.files["alpha.py"]
    line = text.splitlines().index('            task_id="make",') + 1
    problem = "Airflow cannot import the DAG file: TypeError: Invalid arguments (task_id: make)"
    assert airflow_check._task_named(problem, text, line) == ["build", "make"]
    assert airflow_check._task_named(problem, text, None) == ["make"]
    error = f'Traceback:\n  File "/tmp/x/dags/alpha.py", line {line}, in <module>\nTypeError: x'
    assert airflow_check._traceback_line(error, "alpha.py") == line
