"""The target Airflow release (`airflow_version` in dagspec.yaml): a spec feature the target
lacks is refused with a located error; every minor × feature pair is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler import airflow_target, api
from compiler.init import init
from compiler.schemas import SCHEMA_DIR

MINORS = json.loads((SCHEMA_DIR / "project.schema.json").read_text())["properties"]["spec"][
    "properties"
]["airflow_version"]["enum"]

# One spec edit per feature of compiler.airflow_target.FEATURES that uses it.
USES = {
    "deadline": (
        "  promote:\n",
        "  notify:\n"
        "    channels: {team: {type: slack, conn_id: slack_team}}\n"
        "    on_deadline: [team]\n"
        "    deadline_minutes: 30\n"
        "  promote:\n",
    ),
}


def project(root: Path, minor: str | None, feature: str) -> Path:
    init(root)
    if minor is not None:
        config = root / "dagspec.yaml"
        config.write_text(
            config.read_text().replace(
                "  specs_dir:", f'  airflow_version: "{minor}"\n  specs_dir:'
            )
        )
    spec = root / "specs" / "example-entity.yaml"
    before, after = USES[feature]
    spec.write_text(spec.read_text().replace(before, after, 1))
    return root


def test_every_feature_has_a_spec_that_uses_it() -> None:
    assert set(USES) == set(airflow_target.FEATURES)
    assert set(airflow_target.SUPPORTED) <= set(MINORS)


@pytest.mark.parametrize("feature", sorted(airflow_target.FEATURES))
@pytest.mark.parametrize("minor", MINORS)
def test_a_feature_the_target_lacks_is_refused_where_it_is_written(
    tmp_path: Path, minor: str, feature: str
) -> None:
    root = project(tmp_path, minor, feature)
    findings = [f for f in api.lint(root) if f.code == "DS104"]
    first = airflow_target.FEATURES[feature][0]
    if airflow_target.lacks(feature, minor) is None:
        assert findings == []
        assert api.compile_project(root).ok
        return
    assert len(findings) == 1, findings
    found = findings[0]
    assert found.file == "specs/example-entity.yaml"
    assert (found.line, found.col, found.path) == (26, 18, "spec.notify.on_deadline")
    assert f"needs Airflow {first} or newer; this project targets Airflow {minor}" in found.message
    assert f'airflow_version: "{first}"' in (found.suggestion or "")
    assert not api.compile_project(root).ok


def test_without_a_stated_version_the_installed_airflow_is_the_target(tmp_path: Path) -> None:
    assert airflow_target.target({}) == airflow_target.installed() == "3.3"
    assert airflow_target.target({"airflow_version": "3.1"}) == "3.1"


def test_an_unknown_version_is_a_located_schema_error(tmp_path: Path) -> None:
    root = project(tmp_path, "2.10", "deadline")
    findings = [f for f in api.lint(root) if f.file == "dagspec.yaml"]
    assert [f.code for f in findings] == ["DS104"], findings
    assert "3.3" in findings[0].message + (findings[0].suggestion or "")
