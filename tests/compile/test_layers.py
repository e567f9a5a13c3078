"""Three layers, and inside the compiler one direction of imports.

- compiler/ (specs → DAG files and run plans) imports neither Airflow, nor the runtime, nor the
  application; the runtime (plugins/dagspec_runtime, what runs in Airflow workers) imports
  nothing of the compiler or the application; the application (dagspec/: CLI and runner) sits
  over both. Every import counts, function-local ones too (they are read from the source).
- The compiler's modules import each other one way: no module needs one that needs it back. A
  cycle forces function-local imports and makes the stages hard to read and to cache; the
  shared data types live in compiler.model so loading, checking and planning never loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPILER = ROOT / "compiler"
#: layer (its top-level package) → where its source is, and which top-level packages it must not
#: import
LAYERS = {
    "compiler": (COMPILER, {"airflow", "dagspec_runtime", "dagspec"}),
    "dagspec_runtime": (ROOT / "plugins" / "dagspec_runtime", {"compiler", "dagspec"}),
    "dagspec": (ROOT / "dagspec", set()),
}


def _top_level_imports(folder: Path) -> dict[str, set[str]]:
    """Top-level package → the files under `folder` that import it (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.relative_to(ROOT).as_posix())
    return found


def test_each_layer_imports_only_the_layers_below_it() -> None:
    broken = {}
    for layer, (folder, forbidden) in LAYERS.items():
        imports = _top_level_imports(folder)
        for package in sorted(forbidden & imports.keys()):
            broken[f"{layer} imports {package}"] = sorted(imports[package])
    assert broken == {}


def test_the_application_layer_is_over_both() -> None:
    imports = _top_level_imports(ROOT / "dagspec")
    assert {"compiler", "dagspec_runtime"} <= imports.keys()


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
