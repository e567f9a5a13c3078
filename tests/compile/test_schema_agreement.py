"""dagspec and check-jsonschema give the same verdict on specs that JSON Schema can judge.

Editors (yaml-language-server) and CI (check-jsonschema) validate specs against the exported
schemas with a YAML 1.2 parser. If dagspec read YAML differently, a spec could pass one and fail
the other (`required: yes` used to). The corpus: the valid specs, the broken cases whose
findings are all structural, and tests/specs/agreement/ (YAML 1.1 vs 1.2 traps, each saying the
verdict it must get). Left out on purpose: cron ranges and NaN, which dagspec refuses and JSON
Schema cannot express, and cross-spec meaning (DS2xx), which needs the whole project.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import api
from compiler.findings import Severity
from compiler.schemas import KIND_FILES
from dagspec.cli import main

CASES = Path(__file__).resolve().parents[1] / "specs"
EXPECT = re.compile(r"^# expect: (DS\d{3})", re.M)
STRUCTURAL = {"DS001", "DS002", "DS003", "DS101", "DS102", "DS103", "DS104", "DS105", "DS106"}
BEYOND_SCHEMA = {
    "cron-never-fires",
    "cron-out-of-range",
    "reduction-cron-out-of-range",
    "command-unclosed-quote",
}


def corpus() -> list[Path]:
    broken = [
        p
        for p in sorted((CASES / "invalid").glob("*.yaml"))
        if p.stem not in BEYOND_SCHEMA
        and set(EXPECT.findall(p.read_text(encoding="utf-8"))) <= STRUCTURAL
    ]
    return [
        *sorted((CASES / "valid").glob("*.yaml")),
        *broken,
        *sorted((CASES / "agreement").glob("*.yaml")),
    ]


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schemas")
    assert main(["schema", "--out", str(out)]) == 0
    return out


def dagspec_valid(spec: Path) -> bool:
    shown = spec.relative_to(CASES).as_posix()
    return not any(
        f.severity is Severity.ERROR and f.file == shown for f in api.lint(CASES, [spec])
    )


def _schema_for(spec: Path) -> str:
    kind = re.search(r"^kind: *(\w+)", spec.read_text(encoding="utf-8"), re.M)
    return KIND_FILES.get(kind.group(1) if kind else "", KIND_FILES["Entity"])


@pytest.fixture(scope="module")
def checker(schemas: Path) -> dict[Path, bool]:
    """check-jsonschema's verdict on every corpus file (one run per schema: it is slow to
    start)."""
    by_schema: dict[str, list[Path]] = {}
    for spec in corpus():
        by_schema.setdefault(_schema_for(spec), []).append(spec)
    verdicts: dict[Path, bool] = {}
    for schema, specs in by_schema.items():
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "check_jsonschema",
                "-o",
                "json",
                "--schemafile",
                str(schemas / schema),
                *map(str, specs),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode in (0, 1), done.stdout + done.stderr
        report = json.loads(done.stdout)
        failed = {Path(e["filename"]) for e in report["errors"] + report["parse_errors"]}
        verdicts.update({spec: spec not in failed for spec in specs})
    return verdicts


def test_the_corpus_is_large_and_mixed() -> None:
    specs = corpus()
    assert len(specs) >= 20
    valid = [s for s in specs if dagspec_valid(s)]
    assert len(valid) >= 8 and len(specs) - len(valid) >= 8


@pytest.mark.parametrize("spec", corpus(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_dagspec_and_check_jsonschema_agree(spec: Path, checker: dict[Path, bool]) -> None:
    ours, theirs = dagspec_valid(spec), checker[spec]
    assert ours == theirs, f"dagspec says {ours}, check-jsonschema says {theirs}"
    stated = re.search(r"\((valid|invalid)\)", spec.read_text(encoding="utf-8").split("\n")[0])
    if spec.parent.name == "agreement":
        assert stated, "an agreement case states its verdict on its first line"
        assert ours == (stated.group(1) == "valid")
