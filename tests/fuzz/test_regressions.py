"""Inputs the fuzzer found that broke a promise, kept as plain, deterministic tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler import api

PROJECT = "apiVersion: dagspec/v1\nkind: Project\nmetadata: {name: p}\nspec: {entities: [a]}\n"


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a: ", "}")])
@pytest.mark.parametrize("depth", [500, 3000])
def test_deeply_nested_yaml_is_a_finding_not_a_crash(
    tmp_path: Path, opener: str, closer: str, depth: int
) -> None:
    """Found by the fuzzer: ~500 levels of nesting made the loader raise RecursionError
    (compiler/loader.py `_Builder.build`/`_mapping` recurse once or twice per level)."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "dagspec.yaml").write_text(PROJECT)
    deep = opener * depth + "1" * (opener != "[") + closer * depth
    (tmp_path / "specs" / "a.yaml").write_text(
        f"apiVersion: dagspec/v1\nkind: Entity\nmetadata: {{name: a}}\nspec:\n  deep: {deep}\n"
    )
    findings = api.lint(tmp_path, [])
    assert findings and all(f.file == "specs/a.yaml" and f.line >= 1 for f in findings)
    result = api.compile_project(tmp_path)
    assert not result.ok and not (tmp_path / "generated_dags").exists()
