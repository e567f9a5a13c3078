"""Fuzzing the compiler with specs made from the JSON Schemas, then mutated and made hostile.

Promises checked on every example: `lint` and `compile_project` never raise; every problem is a
Finding in a project file with line ≥ 1 and column ≥ 1 and a known rule; a failed compile writes
nothing; every written file contains only code the templates put there, and imports cleanly in
a real Airflow DagBag (checked for a batch of them at the end of each test), and every one
passes `ruff format --check` and `ruff check` as the project's own code does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import specgen
import yaml
from hypothesis import given, note
from hypothesis import strategies as st
from specgen import DAGBAG_FILES, dagbag

from compiler import api
from compiler.findings import Finding
from compiler.rules import RULES

pytestmark = pytest.mark.airflow
SPEC = "specs/spec.yaml"


def _project(base: Path, raw: bytes, data: Any) -> Path:
    root = Path(tempfile.mkdtemp(dir=base))
    (root / "specs").mkdir()
    data = data if isinstance(data, dict) else {}
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    name = name if isinstance(name, str) else "x"
    config = {
        "apiVersion": "dagspec/v1",
        "kind": "Project",
        "metadata": {"name": "fuzz"},
        "spec": {
            "entities": [name] if data.get("kind") == "Entity" else [],
            "targets": ["dev", "prod"],
            "pools": {"dagspec_entities": {"slots": 2}},
        },
    }
    (root / "dagspec.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    (root / SPEC).write_bytes(raw)
    return root


def _check_findings(findings: list[Finding], root: Path) -> None:
    files = specgen.project_files(root)
    for finding in findings:
        assert isinstance(finding, Finding), finding
        assert finding.file in files, f"finding names no project file: {finding}"
        assert isinstance(finding.line, int) and finding.line >= 1, finding
        assert isinstance(finding.col, int) and finding.col >= 1, finding
        text = (root / finding.file).read_bytes().decode("utf-8", "replace")
        assert finding.line <= len(text.splitlines()) + 1, f"line past the end: {finding}"
        assert finding.code in RULES and finding.rule, finding
        assert isinstance(finding.message, str) and finding.message, finding


def _check_compile(root: Path, collected: dict[str, str], styled: list[str]) -> api.CompileResult:
    _check_findings(api.lint(root, []), root)
    _check_findings(api.lint(root, [root / SPEC]), root)
    result = api.compile_project(root)
    _check_findings(result.findings, root)
    out = root / "generated_dags"
    if not result.ok:
        assert not out.exists(), "a failed compile wrote files"
        return result
    written = sorted(p.name for p in out.glob("*.py")) if out.exists() else []
    assert result.plan is not None and written == sorted(result.plan.files)
    for name in written:
        text = (out / name).read_text(encoding="utf-8")
        problems = specgen.code_problems(text)
        assert not problems, f"{name}: code not from the template: {problems}"
        if len(collected) < DAGBAG_FILES and name not in collected:
            collected[name] = text
        styled.append(text)
    return result


#: the project's ruff settings for generated files (pyproject.toml: generated_dags/*)
RUFF_CHECK = ["--select", "E,F,W,I,B,UP,SIM", "--ignore", "E501", "--target-version", "py311"]


def _style_check(styled: list[str], tmp_path: Path) -> None:
    """Every generated file as `ruff format` would write it, and clean under `ruff check`."""
    folder = tmp_path / "styled"
    folder.mkdir()
    for i, text in enumerate(styled):
        (folder / f"dag_{i}.py").write_text(text, encoding="utf-8")
    ruff = [sys.executable, "-m", "ruff"]
    common = ["--isolated", "--line-length", "100"]
    for command in (["format", "--check", "--diff"], ["check", *RUFF_CHECK]):
        done = subprocess.run(
            [*ruff, *command, *common, str(folder)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def _import_check(collected: dict[str, str], tmp_path: Path) -> None:
    if not collected:
        return
    folder = tmp_path / "dagbag"
    folder.mkdir()
    for name, text in collected.items():
        (folder / name).write_text(text, encoding="utf-8")
    report = dagbag(folder, tmp_path / "airflow-home")
    assert report["errors"] == {}, report["errors"]
    assert len(report["dags"]) == len(collected), report


def test_schema_made_specs_never_crash_the_compiler(tmp_path: Path) -> None:
    collected: dict[str, str] = {}
    styled: list[str] = []
    base = tmp_path / "examples"
    base.mkdir()
    stats = {"ok": 0, "findings": 0}

    @given(kind=st.sampled_from(specgen.KINDS), data=st.data())
    def run(kind: str, data: st.DataObject) -> None:
        raw, spec = data.draw(specgen.spec_bytes(kind))
        note(raw.decode("utf-8", "replace")[:3000])
        root = _project(base, raw, spec)
        try:
            result = _check_compile(root, collected, styled)
            stats["ok" if result.ok else "findings"] += 1
        finally:
            shutil.rmtree(root, ignore_errors=True)

    run()
    print(
        f"fuzz: {stats['ok']} compiled, {stats['findings']} rejected with findings, "
        f"{len(collected)} import-checked"
    )
    _import_check(collected, tmp_path)
    _style_check(styled, tmp_path)


# --- specs valid by construction, with hostile free text: they must compile to template code ---

NAME = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)
FREE = st.one_of(st.text(max_size=60), st.sampled_from(specgen.PAYLOADS))
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), FREE, st.floats(allow_nan=False, allow_infinity=False)
)


@st.composite
def hostile_entity(draw: st.DrawFn) -> dict[str, Any]:
    phases = []
    outputs: list[str] = []
    names = draw(st.lists(NAME, min_size=1, max_size=4, unique=True))
    for p, phase in enumerate(names):
        modules = []
        stem = draw(NAME)[:40]
        for m in range(draw(st.integers(1, 3))):
            module = f"{stem}-{p}{m}"  # module names are task ids: unique in the entity
            out = f"{phase}/o{m}.json"
            spec: dict[str, Any] = {
                "name": module,
                "command": draw(st.lists(FREE.filter(bool), min_size=1, max_size=3)),
                "description": draw(FREE),
                "required": draw(st.booleans()),
                "env": draw(
                    st.dictionaries(
                        st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), FREE, max_size=2
                    )
                ),
                "outputs": [out],
            }
            if p and outputs and draw(st.booleans()):
                spec["inputs"] = {"prev": draw(st.sampled_from(outputs))}
            modules.append(spec)
        outputs += [m["outputs"][0] for m in modules]
        phases.append({"name": phase, "description": draw(FREE), "modules": modules})
    params = draw(
        st.dictionaries(
            st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True).filter(
                lambda n: n not in ("target", "dry_run", "keep_workspace")
            ),
            st.fixed_dictionaries(
                {"type": st.just("string"), "default": FREE, "title": FREE, "description": FREE}
            ),
            max_size=2,
        )
    )
    return {
        "apiVersion": "dagspec/v1",
        "kind": "Entity",
        "metadata": {
            "name": draw(NAME),
            "owner": draw(FREE.filter(bool)),
            "tags": draw(
                st.lists(FREE.filter(lambda s: 0 < len(s) <= 100), max_size=3, unique=True)
            ),
            "description": draw(FREE),
        },
        "spec": {
            "phases": phases,
            "params": params,
            "env": {"G": draw(FREE)},
            "promote": [{"from": outputs[0], "to": "out/{entity}/x.json"}],
        },
    }


def test_hostile_text_in_valid_specs_stays_data(tmp_path: Path) -> None:
    collected: dict[str, str] = {}
    styled: list[str] = []
    base = tmp_path / "examples"
    base.mkdir()

    compiled = {"n": 0}

    @given(spec=hostile_entity(), unicode=st.booleans())
    def run(spec: dict[str, Any], unicode: bool) -> None:
        compiled["n"] += 1
        raw = specgen.dump(spec, unicode).encode("utf-8")
        note(raw.decode()[:3000])
        root = _project(base, raw, spec)
        try:
            result = _check_compile(root, collected, styled)
            assert result.ok, [f.as_dict() for f in result.findings]
            text = (root / "generated_dags" / f"{spec['metadata']['name']}.py").read_text()
            strings = specgen.string_constants(text)
            # What the file says, by YAML's rules (a NEL inside a scalar is a line break, say).
            written = yaml.safe_load(raw.decode("utf-8"))
            for phase in written["spec"]["phases"]:
                for module in phase["modules"]:
                    for part in module["command"]:
                        assert part in strings, f"{part!r} did not arrive verbatim"
        finally:
            shutil.rmtree(root, ignore_errors=True)

    run()
    assert collected, "no hostile spec compiled"
    print(
        f"fuzz: {compiled['n']} hostile specs compiled to template code, "
        f"{len(collected)} import-checked"
    )
    _import_check(collected, tmp_path)
    _style_check(styled, tmp_path)
