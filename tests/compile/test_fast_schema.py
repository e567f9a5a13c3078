"""The compiled schema check that lets valid specs skip the full validator must never pass what
the full validator refuses: every spec file of the repository and many mutations of each. (It
may refuse more, as NaN: such a spec just goes through the full validator, which decides.)"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler.loader import load_file
from compiler.schemas import KIND_FILES, fast_validator, validator

REPO = Path(__file__).resolve().parents[2]


def _kind(data: Any) -> str | None:
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if kind in KIND_FILES else None


def _documents() -> list[Path]:
    """Every spec file of the repository that loads as a document of a known kind (broken
    YAML and unknown kinds never reach schema validation)."""
    found = sorted(
        [*REPO.glob("specs/*.yaml"), *REPO.glob("tests/specs/**/*.yaml"), REPO / "dagspec.yaml"]
    )
    return [p for p in found if (doc := load_file(p)[0]) is not None and _kind(doc.data)]


FILES = _documents()


def _mutations(data: Any) -> Iterator[Any]:
    """Each leaf with another type, each key dropped, an unknown key in each mapping."""
    paths: list[tuple] = []

    def walk(node: Any, path: tuple) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i))

    walk(data, ())
    for path in paths[1:]:
        for change in ("drop", "int", "str", "list", "null", "float", "bool", "negative"):
            out = copy.deepcopy(data)
            parent = out
            for part in path[:-1]:
                parent = parent[part]
            last = path[-1]
            old = parent[last]
            if change == "drop":
                del parent[last]
            else:
                parent[last] = {
                    "int": 7,
                    "str": "seven",
                    "list": [old],
                    "null": None,
                    "float": 1.5,
                    "bool": True,
                    "negative": -1,
                }[change]
            yield out
    for path in paths:
        out = copy.deepcopy(data)
        node = out
        for part in path:
            node = node[part]
        if isinstance(node, dict):
            node["surely_unknown"] = 1
            yield out


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_fast_check_agrees_with_the_full_validator(path: Path) -> None:
    doc, _ = load_file(path)
    assert doc is not None
    kind = _kind(doc.data)
    assert kind is not None
    fast = fast_validator(kind)
    assert fast is not None, "jsonschema-rs is a dependency of the compiler"
    checked = 0
    for data in [doc.data, *_mutations(doc.data)]:
        if fast.is_valid(data):
            assert not any(True for _ in validator(kind).iter_errors(data)), (path, data)
        checked += 1
    assert checked > 1


def test_every_kind_is_covered() -> None:
    kinds = {_kind(load_file(p)[0].data) for p in FILES}
    assert kinds == set(KIND_FILES)


def test_every_valid_spec_of_the_repository_passes_the_fast_check() -> None:
    valid = [p for p in FILES if "invalid" not in p.parts]
    assert len(valid) > 5
    for path in valid:
        doc = load_file(path)[0]
        kind = _kind(doc.data)
        if not any(True for _ in validator(kind).iter_errors(doc.data)):
            assert fast_validator(kind).is_valid(doc.data), path
