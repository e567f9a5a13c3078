"""Spec cases from data: valid/ must be clean, each invalid case must give exactly its findings.

An invalid case is a file (or a folder of files) under tests/specs/invalid/; its expected
findings are `# expect: CODE LINE:COL SPEC.PATH [FILE]` comments at its end ('-' for no path;
FILE, relative to tests/specs, for a finding the case causes in another file).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compiler import api

CASES = Path(__file__).resolve().parents[1] / "specs"
EXPECT = re.compile(r"^# expect: (DS\d{3}) (\d+):(\d+) (\S+)(?: (\S+))?$", re.M)


def _cases() -> list[Path]:
    return sorted(p for p in (CASES / "invalid").iterdir() if p.suffix == ".yaml" or p.is_dir())


def _expected(case: Path) -> set[tuple[str, str, int, int, str]]:
    files = sorted(case.glob("*.yaml")) if case.is_dir() else [case]
    out = set()
    for file in files:
        shown = file.relative_to(CASES).as_posix()
        for code, line, col, path, elsewhere in EXPECT.findall(file.read_text()):
            out.add((elsewhere or shown, code, int(line), int(col), "" if path == "-" else path))
    return out


def test_there_are_at_least_25_broken_cases() -> None:
    assert len(_cases()) >= 25


def test_valid_specs_have_no_findings() -> None:
    assert api.lint(CASES, [CASES / "valid"]) == []


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.stem)
def test_invalid_case_reports_exactly_its_findings(case: Path) -> None:
    expected = _expected(case)
    assert expected, f"{case.name} declares no `# expect:` lines"
    findings = api.lint(CASES, [case])
    got = {(f.file, f.code, f.line, f.col, f.path) for f in findings}
    assert got == expected
    for finding in findings:
        assert finding.message


def test_misspelt_key_suggests_the_right_one() -> None:
    findings = api.lint(CASES, [CASES / "invalid" / "misspelt-key.yaml"])
    unknown = next(f for f in findings if f.code == "DS101")
    assert unknown.suggestion == "did you mean `command`?"


def test_misspelt_kind_suggests_the_kind() -> None:
    (finding,) = api.lint(CASES, [CASES / "invalid" / "misspelt-kind.yaml"])
    assert finding.suggestion == "did you mean `Entity`?"


def test_all_files_are_reported_in_one_run() -> None:
    findings = api.lint(CASES, [CASES / "invalid"])
    files_with_findings = {f.file.split("/")[1] for f in findings if f.file.startswith("invalid/")}
    assert files_with_findings == {p.name for p in _cases()}
