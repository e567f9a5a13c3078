"""The lean load (data first, source positions only for a file with findings) against the
marked load (positions for every file): the same data, findings, places and DAG files."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler import api, loader

CASES = Path(__file__).resolve().parents[1] / "specs"
ROOT = CASES.parents[1]
CORPUS = sorted({*CASES.rglob("*.yaml"), *(ROOT / "specs").glob("*.yaml")})


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each analysis loads every file itself: a cache entry would hide the way it was loaded."""
    monkeypatch.setenv("DAGSPEC_CACHE", "0")


def _findings(findings: list) -> list[tuple]:
    return [
        (f.file, f.line, f.col, f.code, f.path, f.message, f.suggestion, f.related)
        for f in findings
    ]


def test_the_corpus_has_both_clean_and_refused_files() -> None:
    loaded = [loader.load_file(p) for p in CORPUS]
    assert sum(doc is not None and not found for doc, found in loaded) >= 30
    assert sum(doc is None for doc, _ in loaded) >= 5  # syntax, tags, alias bomb, ...
    assert any(doc is not None and found for doc, found in loaded)  # duplicate keys


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_file_loads_alike_both_ways(path: Path) -> None:
    raw = path.read_bytes()
    lean, lean_findings = loader.load_bytes(raw, "spec.yaml", marks=False)
    marked, marked_findings = loader.load_bytes(raw, "spec.yaml", marks=True)
    assert _findings(lean_findings) == _findings(marked_findings)
    assert (lean is None) == (marked is None)
    if lean is None or marked is None:
        return
    assert repr(lean.data) == repr(marked.data)  # repr: NaN is not equal to itself
    assert marked.source_map is not None
    assert lean.marks == marked.source_map  # made from the bytes when asked for


def test_a_clean_file_has_no_source_map_until_one_is_asked_for() -> None:
    doc, findings = loader.load_file(CASES / "valid" / "alpha.yaml")
    assert doc is not None and not findings
    assert doc.source_map is None
    assert doc.marks.locate(("metadata", "name")) == (4, 9)
    assert doc.source_map is not None


def test_a_clean_compile_makes_no_source_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[bytes] = []
    real = loader.source_map
    monkeypatch.setattr(loader, "source_map", lambda raw: made.append(raw) or real(raw))
    result = api.compile_project(ROOT, out=tmp_path / "out")
    assert result.ok and not result.findings
    assert made == []


def test_lint_of_the_invalid_cases_finds_the_same_both_ways(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loader, "LEAN", False)
    marked = api.lint(CASES, [CASES / "invalid"])
    monkeypatch.setattr(loader, "LEAN", True)
    lean = api.lint(CASES, [CASES / "invalid"])
    assert len(lean) > 60
    assert _findings(lean) == _findings(marked)


def test_lint_of_other_corpora_finds_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    for folder in (CASES / "agreement", CASES / "formats" / "specs", CASES / "valid"):
        monkeypatch.setattr(loader, "LEAN", False)
        marked = api.lint(CASES, [folder])
        monkeypatch.setattr(loader, "LEAN", True)
        assert _findings(api.lint(CASES, [folder])) == _findings(marked)


@pytest.mark.parametrize("root", [ROOT, CASES / "formats"], ids=["examples", "formats"])
def test_a_compile_writes_the_same_files_both_ways(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = {}
    for lean in (False, True):
        monkeypatch.setattr(loader, "LEAN", lean)
        out = tmp_path / f"out-{lean}"
        result = api.compile_project(root, out=out)
        written[lean] = (
            _findings(result.findings),
            {p.name: p.read_bytes() for p in sorted(out.glob("*.py"))},
        )
    assert written[True] == written[False]
    assert written[True][1] or written[True][0]  # it compiled something, or said why not
