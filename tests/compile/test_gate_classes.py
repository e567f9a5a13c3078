"""Classes of values that lint passed and Airflow refused: each is now a located finding.

One test per class (strict integers, calendar dates, schedules with whitespace, control
characters in names and paths, merge keys, the project's notify defaults), each asserting the
file:line:column and code a user sees, and that the value's well-formed neighbour still passes.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from compiler import api

CASES = Path(__file__).resolve().parents[1] / "specs"
SPEC = """\
apiVersion: dagspec/v1
kind: Entity
metadata:
  name: {name}
spec:
  schedule: {schedule}
  catchup: false
  priority_weight: {weight}
  phases:
    - name: pull
      modules:
        - {{name: fetch, command: [python, fetch.py], outputs: [{output}]}}
"""
GOOD = {"name": "gamma", "schedule": "'@daily'", "weight": "10", "output": "pull/a.json"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(CASES, root, ignore=shutil.ignore_patterns("invalid"))
    (root / "valid" / "gamma.yaml").write_text(SPEC.format(**GOOD))
    config = root / "dagspec.yaml"
    config.write_text(
        config.read_text().replace("[alpha, beta, broken, other]", "[alpha, beta, gamma]")
    )
    return root


def _lint(project: Path, text: str) -> list[tuple[str, int, int, str, str]]:
    spec = project / "valid" / "gamma.yaml"
    spec.write_text(text)
    return [(f.file, f.line, f.col, f.code, f.path) for f in api.lint(project, [spec])]


def test_the_well_formed_spec_passes(project: Path) -> None:
    assert _lint(project, SPEC.format(**GOOD)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"weight": "10.0"}, (8, 20, "DS103", "spec.priority_weight")),
        ({"weight": "1e1"}, (8, 20, "DS103", "spec.priority_weight")),
        ({"schedule": '"0 3 * * *\\n"'}, (6, 13, "DS105", "spec.schedule")),
        ({"schedule": '" @daily"'}, (6, 13, "DS105", "spec.schedule")),
        ({"schedule": '"0\\t3 * * *"'}, (6, 13, "DS105", "spec.schedule")),
        ({"name": '"gamma\\n"'}, (4, 9, "DS105", "metadata.name")),
        ({"output": '"pull/a.json\\n"'}, (12, 64, "DS105", "spec.phases[0].modules[0].outputs[0]")),
        (
            {"output": '"pull/x\\n../../etc/a"'},
            (12, 64, "DS105", "spec.phases[0].modules[0].outputs[0]"),
        ),
        (
            {"output": '"pull/a\\u0007.json"'},
            (12, 64, "DS105", "spec.phases[0].modules[0].outputs[0]"),
        ),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else "",
)
def test_a_value_airflow_refuses_is_a_located_lint_error(
    project: Path, change: dict[str, str], expected: tuple[int, int, str, str]
) -> None:
    found = _lint(project, SPEC.format(**{**GOOD, **change}))
    assert ("valid/gamma.yaml", *expected) in found, found


def test_a_block_scalar_schedule_is_refused(project: Path) -> None:
    text = SPEC.format(**GOOD).replace("schedule: '@daily'", "schedule: |\n    0 3 * * *")
    assert set(_lint(project, text)) == {("valid/gamma.yaml", 6, 13, "DS105", "spec.schedule")}


@pytest.mark.parametrize(
    "day", ["2024-02-30", "2023-02-29", "2024-13-01", "2024-04-31", "9999-12-31", "0001-01-01"]
)
def test_an_impossible_start_date_is_reported_in_dagspec_yaml(project: Path, day: str) -> None:
    config = project / "dagspec.yaml"
    config.write_text(config.read_text() + f"  defaults:\n    start_date: '{day}'\n")
    line = len(config.read_text().splitlines())
    found = api.lint(project, [config])
    assert [(f.file, f.line, f.col, f.code) for f in found] == [("dagspec.yaml", line, 17, "DS105")]
    assert "not a day of the calendar" in found[0].message


def test_a_leap_day_is_a_valid_start_date(project: Path) -> None:
    config = project / "dagspec.yaml"
    config.write_text(config.read_text() + "  defaults:\n    start_date: '2024-02-29'\n")
    assert api.lint(project, [config]) == []


def test_a_merge_key_is_ds006_not_an_unknown_key(project: Path) -> None:
    text = SPEC.format(**GOOD).replace("  catchup: false\n", "  <<: {catchup: false}\n")
    assert _lint(project, text) == [("valid/gamma.yaml", 7, 3, "DS006", "")]


def test_a_default_notify_typo_lands_on_dagspec_yaml_for_every_linted_file(
    project: Path,
) -> None:
    config = project / "dagspec.yaml"
    config.write_text(
        config.read_text()
        + "  defaults:\n    notify:\n      channels:\n        ops: {type: slack, conn_id: s}\n"
        + "      on_failure: [opz]\n"
    )
    line = len(config.read_text().splitlines())
    for named in (config, project / "valid" / "alpha.yaml"):
        found = api.lint(project, [named])
        assert [(f.file, f.line, f.col, f.code) for f in found] == [
            ("dagspec.yaml", line, 20, "DS202")
        ], named
        assert found[0].suggestion == "did you mean `ops`?"
        assert ("valid/alpha.yaml", 9, 3) in found[0].related


@pytest.mark.parametrize("phase", ["timedelta", "os", "datetime", "workspace", "result"])
def test_a_phase_named_like_a_name_of_the_dag_file_does_not_shadow_it(
    project: Path, phase: str
) -> None:
    """`with TaskGroup("timedelta") as timedelta:` broke every later `timedelta(seconds=...)`."""
    text = SPEC.format(**GOOD).replace("    - name: pull\n", f"    - name: {phase}\n")
    text = text.replace("outputs: [pull/a.json]", f"outputs: [{phase}/a.json]")
    text += (
        "    - name: later\n      retry_delay_seconds: 30\n      modules:\n"
        "        - {name: b, command: [python, b.py], outputs: [later/b.json]}\n"
    )
    spec = project / "valid" / "gamma.yaml"
    spec.write_text(text)
    rendered, findings = api.render_spec(project, spec)
    assert rendered is not None, findings
    assert f" as {phase}:" not in rendered and re.search(rf'TaskGroup\(\s*"{phase}"', rendered)
    compile(rendered, "gamma.py", "exec")


@pytest.mark.parametrize("schedule", ["'@once'", "'@continuous'"])
def test_once_or_continuous_with_asset_inputs_is_ds213_at_the_schedule(
    project: Path, schedule: str
) -> None:
    producer = SPEC.format(**{**GOOD, "name": "beta2"}).replace(
        "outputs: [pull/a.json]}", "outputs: [pull/a.json], outs: [shared/x.csv]}"
    )
    (project / "valid" / "zeta.yaml").write_text(producer)
    config = project / "dagspec.yaml"
    config.write_text(config.read_text().replace("gamma]", "gamma, beta2]"))
    consumer = SPEC.format(**{**GOOD, "schedule": schedule}).replace(
        "outputs: [pull/a.json]}", "outputs: [pull/a.json], deps: [shared/x.csv]}"
    )
    found = _lint(project, consumer)
    assert found == [("valid/gamma.yaml", 6, 13, "DS213", "spec.schedule")]
    assert _lint(project, consumer.replace(schedule, "'@daily'")) == []


def test_a_reduction_id_over_250_characters_is_ds106_at_the_longest_group_by_field(
    project: Path,
) -> None:
    text = (project / "valid" / "reduce.yaml").read_text()
    assert "group_by: [" in text
    field = "f" * 240
    (project / "valid" / "reduce.yaml").write_text(
        text.replace("group_by: [", f"group_by: [{field}, ", 1)
    )
    found = api.lint(project, [project / "valid" / "reduce.yaml"])
    assert [(f.code, f.path.rsplit(".", 1)[-1]) for f in found] == [("DS106", "group_by[0]")]
    assert "Airflow takes at most 250" in found[0].message


def test_removing_a_promotion_from_an_abstract_spec_is_reported_when_it_alone_is_linted(
    project: Path,
) -> None:
    base = project / "valid" / "base.yaml"
    base.write_text(
        base.read_text() + "  promote:\n    - {from: pull/data.json, to: shared/d.json}\n"
    )
    consumer = SPEC.format(**GOOD).replace(
        "outputs: [pull/a.json]}", "outputs: [pull/a.json], deps: [shared/beta/d.json]}"
    )
    base.write_text(base.read_text().replace("to: shared/d.json", 'to: "shared/{entity}/d.json"'))
    assert _lint(project, consumer) == []
    base.write_text(base.read_text().split("  promote:")[0])  # the promotion removed
    found = [(f.file, f.code) for f in api.lint(project, [base])]
    assert found == [("valid/gamma.yaml", "DS202")]


def test_a_new_entity_whose_inherited_promotion_collides_is_reported_when_it_is_linted(
    project: Path,
) -> None:
    base = project / "valid" / "base.yaml"
    base.write_text(
        base.read_text() + '  promote:\n    - {from: pull/data.json, to: "x/{entity}"}\n'
    )
    taken = SPEC.format(**GOOD).replace(
        "outputs: [pull/a.json]}", "outputs: [pull/a.json], outs: [x/delta]}"
    )
    (project / "valid" / "gamma.yaml").write_text(taken)
    assert api.lint(project) == []
    (project / "valid" / "delta.yaml").write_text(
        "apiVersion: dagspec/v1\nkind: Entity\nmetadata:\n  name: delta\nspec:\n  extends: base\n"
    )
    config = project / "dagspec.yaml"
    config.write_text(config.read_text().replace("gamma]", "gamma, delta]"))
    found = api.lint(project, [project / "valid" / "delta.yaml"])
    assert "DS210" in [f.code for f in found], found


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("cal {input} {output_dir}", "unknown field `{input}`"),
        ("cal {parameters[typo]} {inputs}", "`{parameters[typo]}` cannot be filled"),
        ("awk '{print $1}' {inputs}", "unknown field `{print $1}`"),
        ("cal {sub_group[nope]} {inputs}", "`{sub_group[nope]}` cannot be filled"),
        ("cal {} {inputs}", "positional field"),
        ("cal } {inputs}", "Single '}'"),
    ],
)
def test_a_command_template_that_cannot_render_is_ds105_at_the_template(
    project: Path, template: str, says: str
) -> None:
    spec = project / "valid" / "reduce.yaml"
    text = spec.read_text()
    good = "cal {inputs} {output_dir}"
    assert good in text
    spec.write_text(text.replace(good, template.replace('"', '\\"'), 1))
    found = api.lint(project, [spec])
    assert [(f.line, f.code, f.path) for f in found] == [
        (17, "DS105", "spec.steps[0].config.command_template")
    ], found
    assert says in found[0].message
    spec.write_text(text.replace(good, "awk '{{print $1}}' {inputs} {output_dir}", 1))
    assert api.lint(project, [spec]) == []
