"""Hypothesis strategies for specs, built from the project's own JSON Schemas (a small generator:
the schemas use only type/const/enum/pattern/properties/items/$ref and bounds), plus mutations
that make them hostile: wrong types, deleted keys, odd unicode, deep nesting, huge strings and
YAML-level tricks (tabs, anchors, tags, bad bytes).

Why our own generator: it is ~150 lines, needs no extra package, and follows the schema files,
so a schema change changes what is generated.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from compiler.schemas import KIND_FILES, SCHEMA_DIR

PAYLOADS = [
    "'''); import os; os.system('id') #",
    '"""\nimport os\n"""',
    "{{ 7*7 }}",
    "{% raw %}{{ config }}{% endraw %}",
    "\\'; __import__('os').system('id') #",
    "\u2028\u2029\x0b\x0c\x85 end",
    "${HOME} $(id) `id`",
    "\ud7ff\ue000\U0010ffff",
    "*alias &anchor !!python/object:os.system",
    "\t\ttab",
    "x" * 5000,
]
KINDS = ["Entity", "Manifest", "ReductionPipeline"]


@cache
def schema(file: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / file).read_text(encoding="utf-8"))


def _resolve(node: dict[str, Any], file: str) -> tuple[dict[str, Any], str]:
    while "$ref" in node:
        ref = node["$ref"]
        target, _, pointer = ref.partition("#")
        file = target or file
        node = schema(file)
        for part in pointer.strip("/").split("/"):
            if part:
                node = node[part]
    return node, file


def _string(node: dict[str, Any]) -> st.SearchStrategy[str]:
    if "pattern" in node:
        pattern = node["pattern"]
        regex = st.from_regex(pattern, fullmatch=True).filter(lambda s: len(s) < 200)
        return st.one_of(*[regex] * 19, st.sampled_from(PAYLOADS))  # mostly valid
    low = node.get("minLength", 0)
    high = node.get("maxLength", 40)
    free = st.text(min_size=low, max_size=max(low, high))
    return st.one_of(free, st.sampled_from(PAYLOADS).filter(lambda s: low <= len(s) <= high
                                                            or "maxLength" not in node))


def _number(node: dict[str, Any], integer: bool) -> st.SearchStrategy[Any]:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum")
    if integer:
        if "exclusiveMinimum" in node:
            low = math.floor(low) + 1
        return st.integers(min_value=low, max_value=high)
    return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False,
                     exclude_min="exclusiveMinimum" in node)


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6,
)


def from_schema(node: dict[str, Any], file: str, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that mostly satisfy `node` (if/then/else and cross-field rules are ignored)."""
    node, file = _resolve(node, file)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    types = node.get("type")
    if types is None:
        types = "object" if "properties" in node else None
    if types is None:
        return ANY_JSON
    if isinstance(types, list):
        return st.one_of(*(from_schema({**node, "type": t}, file, depth) for t in types))
    if types == "string":
        return _string(node)
    if types in ("integer", "number"):
        return _number(node, types == "integer")
    if types == "boolean":
        return st.booleans()
    if types == "null":
        return st.none()
    if types == "array":
        items = from_schema(node.get("items", {}), file, depth + 1)
        low = node.get("minItems", 0)
        unique = node.get("uniqueItems", False)
        return st.lists(items, min_size=low, max_size=low + (1 if depth > 2 else 3),
                        unique_by=(lambda v: json.dumps(v, sort_keys=True)) if unique else None)
    return _object(node, file, depth)


def _object(node: dict[str, Any], file: str, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    props = node.get("properties", {})
    required = set(node.get("required", []))
    then = node.get("else", {}).get("required", [])  # `phases` unless `extends`: often add it
    fixed = {k: from_schema(v, file, depth + 1) for k, v in props.items() if k in required}
    optional = {k: from_schema(v, file, depth + 1) for k, v in props.items()
                if k not in required}
    extra = node.get("additionalProperties")
    names = node.get("propertyNames", {}).get("pattern")

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out = {k: draw(s) for k, s in fixed.items()}
        for key, strategy in optional.items():
            if draw(st.booleans()) or (key in then and draw(st.booleans())):
                out[key] = draw(strategy)
        if isinstance(extra, dict) and depth < 6:
            keys = st.from_regex(names, fullmatch=True) if names else st.text(max_size=8)
            more = draw(st.dictionaries(keys, from_schema(extra, file, depth + 1), max_size=2,
                                        min_size=node.get("minProperties", 0)))
            out.update(more)
        return out

    return build()


def spec_strategy(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return from_schema(schema(KIND_FILES[kind]), KIND_FILES[kind])


WRONG = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.just(float("nan")),
    st.just(float("inf")), st.text(), st.sampled_from(PAYLOADS), st.just("y" * 200_000),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                           max_size=2),
    st.integers(min_value=50, max_value=400).map(lambda n: _nest(n)),
)


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*path, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, data: Any) -> Any:
    """`data` with 0–3 structural mutations: replace, delete, add a key, rename a key."""
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add", "rename"]))
        if not path:
            if action == "replace":
                data = draw(WRONG)
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if action == "replace":
            parent[last] = draw(WRONG)
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(WRONG)
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from([str(last)[:-1], str(last) + "s", str(last).upper()]))] \
                = parent.pop(last)
    return data


def dump(data: Any, unicode: bool) -> str:
    return yaml.safe_dump(data, allow_unicode=unicode, sort_keys=False, width=10**6)


TEXT_TRICKS = [
    lambda t: "\t" + t.replace("\n  ", "\n\t", 1),  # tab indentation
    lambda t: t.replace("metadata:", "metadata: &m", 1) + "extra: *m\n",  # anchor + alias
    lambda t: t.replace("spec:", "spec: !!python/object/apply:os.system ['id']", 1),
    lambda t: t.replace("kind:", "kind: !custom", 1),
    lambda t: t.replace("metadata:", "metadata: !!binary aGVsbG8=\nx:", 1),
    lambda t: t.replace("spec:", "spec: !!set {a, b}\nz:", 1),
    lambda t: t + "<<: {a: 1}\n",
    lambda t: t + "metadata: {name: dup}\n",  # duplicate key
    lambda t: "\ufeff" + t,  # BOM
    lambda t: t.replace("\n", "\r\n"),
    lambda t: t + "deep: " + "[" * 3000 + "]" * 3000 + "\n",
    lambda t: t + "deep2: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n",
    lambda t: t[: len(t) // 2],
    lambda t: t + "bomb: &a [x, x]\n" + "".join(f"b{i}: &b{i} [*{'a' if i == 0 else f'b{i-1}'}"
                                                + f", *{'a' if i == 0 else f'b{i-1}'}]\n"
                                                for i in range(30)),
    lambda t: t + "huge: " + "z" * 1_100_000 + "\n",
    lambda t: t.replace(":", ": ? ", 1),
    lambda t: t + "\x00\n",
    lambda t: "%YAML 1.1\n%TAG ! tag:evil.com,2000:\n---\n" + t,
    lambda t: t + "---\nsecond: doc\n",
    lambda t: t + "'unterminated\n",
]


@st.composite
def spec_bytes(draw: st.DrawFn, kind: str) -> tuple[bytes, Any]:
    """YAML bytes of a schema-made spec, maybe mutated as data, maybe tricked as text."""
    data = draw(spec_strategy(kind))
    if draw(st.booleans()):
        data = draw(mutated(data))
    text = dump(data, draw(st.booleans()))
    for trick in draw(st.lists(st.sampled_from(TEXT_TRICKS), max_size=2)):
        text = trick(text)
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(min_size=1, max_size=5)) + text[at:]
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 19)) == 0:
        raw += b"\xff\xfe\x80"
    return raw, data


# --- what a generated module may contain -------------------------------------------------------

ALLOWED_IMPORTS = {"__future__", "datetime", "airflow.sdk"}
ALLOWED_MODULES = {"os"}  # plain `import x`
ALLOWED_NODES = {
    "Module", "Expr", "Assign", "Attribute", "BinOp", "Div", "RShift", "Call", "Constant",
    "Dict", "List", "Tuple", "Load", "Store", "Name", "With", "withitem", "alias", "keyword",
    "Import", "ImportFrom", "FunctionDef", "arguments", "arg", "Subscript", "UnaryOp", "USub",
}
ALLOWED_ATTRS = {"utc", "expand", "output", "path", "normpath", "join", "dirname", "abspath"}
BUILTINS = {"str", "__file__"}


def code_problems(text: str) -> list[str]:
    """Everything in a generated module that the templates do not put there themselves."""
    tree = ast.parse(text)
    problems = []
    imported: set[str] = set()
    defined: set[str] = set()
    for node in ast.walk(tree):
        kind = type(node).__name__
        if kind not in ALLOWED_NODES:
            problems.append(f"node {kind}: {ast.unparse(node)[:80]}")
        if isinstance(node, ast.Import):
            bad = [a.name for a in node.names if a.name not in ALLOWED_MODULES]
            problems += [f"import {name}" for name in bad]
            imported |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module not in ALLOWED_IMPORTS and not module.startswith("dagspec_runtime."):
                problems.append(f"import from {module}")
            imported |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.arg)):
            defined.add(node.name if isinstance(node, ast.FunctionDef) else node.arg)
        elif isinstance(node, ast.Attribute) and node.attr not in ALLOWED_ATTRS:
            problems.append(f"attribute .{node.attr}")
        elif isinstance(node, ast.keyword) and node.arg is not None \
                and not re.fullmatch(r"[a-z_][a-z0-9_]*", node.arg):
            problems.append(f"keyword {node.arg}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) \
                and node.id not in imported | defined | BUILTINS:
            problems.append(f"name {node.id}")
        if isinstance(node, ast.Call):
            func = node.func
            while isinstance(func, ast.Attribute):
                func = func.value
            if not isinstance(func, ast.Name):
                problems.append(f"call {ast.unparse(node.func)}")
    return problems


def module_docstring_ok(text: str) -> bool:
    return isinstance(ast.get_docstring(ast.parse(text), clean=False), str)


def project_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def string_constants(text: str) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(text))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)}


ROOT = Path(__file__).resolve().parents[2]
#: how many compiled files each test import-checks in one real DagBag (Airflow parsing is slow)
_LONG = int(os.environ.get("DAGSPEC_FUZZ_EXAMPLES", "0")) > 1000
DAGBAG_FILES = int(os.environ.get("DAGSPEC_FUZZ_DAGBAG_FILES", "40" if _LONG else "12"))

_DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"dags": sorted(bag.dag_ids),
                  "errors": {str(k): str(v)[-1500:] for k, v in bag.import_errors.items()}}))
"""


def dagbag(folder: Path, airflow_home: Path) -> dict[str, object]:
    """Import every file of `folder` in a real Airflow DagBag, in a fresh process."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PYTHONPATH": str(ROOT / "plugins"),
    }
    done = subprocess.run([sys.executable, "-c", _DAGBAG, str(folder)], capture_output=True,
                          text=True, env=env, timeout=600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1])
