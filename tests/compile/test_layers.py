"""The compiler's modules import each other one way: no module needs one that needs it back.

A cycle forces function-local imports and makes the stages hard to read and to cache; the
shared data types live in compiler.model so loading, checking and planning never loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

COMPILER = Path(__file__).resolve().parents[2] / "compiler"


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in COMPILER.rglob("*.py"):
        parts = path.relative_to(COMPILER.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("compiler")
            ):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("compiler"))
        graph[name] = found
    return {name: {m for m in deps if m in graph and m != name} for name, deps in graph.items()}


def test_compiler_modules_import_each_other_without_cycles() -> None:
    graph = _imports()
    graph.pop("compiler", None)  # the package front re-exports the API
    for deps in graph.values():
        deps.discard("compiler")
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_kinds_and_artifacts_take_the_shared_types_from_the_model() -> None:
    graph = _imports()
    for name in (
        "compiler.artifacts",
        "compiler.kinds.entity",
        "compiler.kinds.manifest",
        "compiler.kinds.reduction",
        "compiler.kinds.common",
    ):
        assert "compiler.analysis" not in graph[name], name
        assert "compiler.model" in graph[name], name
