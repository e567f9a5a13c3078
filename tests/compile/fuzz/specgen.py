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
#: schedules Airflow accepts (what a valid spec may use) and ones it refuses or never runs
VALID_SCHEDULES = [
    "@once",
    "@continuous",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
    "0 3 * * *",
    "*/15 * * * *",
    "30 2 1 * *",
    "0 0 * * MON-FRI",
    "5 4 * * sun",
    "0 22 * * 1-5",
    "0 0 29 2 *",
    "0 0 L * *",
    "0 12 * JAN,JUL *",
    "59 23 31 12 *",
    "0 0 * * 7",
]
BAD_SCHEDULES = [
    "0 25 * * *",
    "75 26 * * *",
    "0 0 30 2 *",
    "0 0 * * 8",
    "0 0 0 * *",
    "* * * 13 *",
    "H * * * *",
    "0 0 * * 5L",
    "*/0 * * * *",
    "1-70 * * * *",
]


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


def _string(node: dict[str, Any], valid: bool = False) -> st.SearchStrategy[str]:
    if node.get("format") == "airflow-cron":
        crons = [c for c in VALID_SCHEDULES if re.fullmatch(node["pattern"], c)]
        good = st.sampled_from(crons)
        if valid:
            return good
        regex = st.from_regex(node["pattern"], fullmatch=True).filter(lambda s: len(s) < 200)
        return st.one_of(good, good, regex, st.sampled_from(BAD_SCHEDULES))
    if "pattern" in node:
        pattern = node["pattern"]
        regex = st.from_regex(pattern, fullmatch=True).filter(lambda s: len(s) < 200)
        if valid:
            return regex
        return st.one_of(*[regex] * 19, st.sampled_from(PAYLOADS))  # mostly valid
    low = node.get("minLength", 0)
    high = node.get("maxLength", 40)
    free = st.text(min_size=low, max_size=max(low, high))
    fitting = [p for p in PAYLOADS if low <= len(p) <= high]
    if valid:  # still hostile free text: it must stay data
        return st.one_of(free, st.sampled_from(fitting)) if fitting else free
    return st.one_of(
        free,
        st.sampled_from(PAYLOADS).filter(
            lambda s: low <= len(s) <= high or "maxLength" not in node
        ),
    )


def _number(node: dict[str, Any], integer: bool) -> st.SearchStrategy[Any]:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum")
    if integer:
        if "exclusiveMinimum" in node:
            low = math.floor(low) + 1
        return st.integers(min_value=low, max_value=high)
    return st.floats(
        min_value=low,
        max_value=high,
        allow_nan=False,
        allow_infinity=False,
        exclude_min="exclusiveMinimum" in node,
    )


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


ANY_FINITE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def from_schema(
    node: dict[str, Any], file: str, depth: int = 0, valid: bool = False
) -> st.SearchStrategy[Any]:
    """Values that mostly satisfy `node`; with `valid`, values that satisfy it (if/then/else
    included; rules across fields are `repair`'s job)."""
    node, file = _resolve(node, file)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    types = node.get("type")
    if types is None:
        types = "object" if "properties" in node else None
    if types is None:
        return ANY_FINITE if valid else ANY_JSON
    if isinstance(types, list):
        return st.one_of(*(from_schema({**node, "type": t}, file, depth, valid) for t in types))
    if types == "string":
        return _string(node, valid)
    if types in ("integer", "number"):
        return _number(node, types == "integer")
    if types == "boolean":
        return st.booleans()
    if types == "null":
        return st.none()
    if types == "array":
        items = from_schema(node.get("items", {}), file, depth + 1, valid)
        low = node.get("minItems", 0)
        unique = node.get("uniqueItems", False)
        return st.lists(
            items,
            min_size=low,
            max_size=low + (1 if depth > 2 else 3),
            unique_by=(lambda v: json.dumps(v, sort_keys=True)) if unique else None,
        )
    return _object(node, file, depth, valid)


def _object(
    node: dict[str, Any], file: str, depth: int, valid: bool = False
) -> st.SearchStrategy[dict[str, Any]]:
    props = node.get("properties", {})
    required = set(node.get("required", []))
    then = node.get("else", {}).get("required", [])  # `phases` unless `extends`: often add it
    fixed = {k: from_schema(v, file, depth + 1, valid) for k, v in props.items() if k in required}
    optional = {
        k: from_schema(v, file, depth + 1, valid) for k, v in props.items() if k not in required
    }
    extra = node.get("additionalProperties")
    names = (
        _resolve(node["propertyNames"], file)[0].get("pattern") if "propertyNames" in node else None
    )

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out = {k: draw(s) for k, s in fixed.items()}
        for key, strategy in optional.items():
            if draw(st.booleans()) or (key in then and draw(st.booleans())):
                out[key] = draw(strategy)
        if isinstance(extra, dict) and depth < 6:
            keys = st.from_regex(names, fullmatch=True) if names else st.text(max_size=8)
            more = draw(
                st.dictionaries(
                    keys,
                    from_schema(extra, file, depth + 1, valid),
                    max_size=2,
                    min_size=node.get("minProperties", 0),
                )
            )
            out.update(more)
        if valid and "if" in node:
            branch = node.get("then", {}) if _matches(node["if"], out) else node.get("else", {})
            if branch.get("additionalProperties") is False:
                out = {k: v for k, v in out.items() if k in branch.get("properties", {})}
            for key in branch.get("required", []):
                sub = branch.get("properties", {}).get(key, props.get(key, {}))
                if key not in out:
                    out[key] = draw(from_schema(sub, file, depth + 1, valid))
            for key, sub in branch.get("properties", {}).items():
                if key not in out and key not in props and draw(st.booleans()):
                    out[key] = draw(from_schema(sub, file, depth + 1, valid))
        return out

    return build()


def _matches(condition: dict[str, Any], value: dict[str, Any]) -> bool:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(condition).is_valid(value)


def spec_strategy(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return from_schema(schema(KIND_FILES[kind]), KIND_FILES[kind])


def valid_spec(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """Specs that satisfy the schema and the meaning rules: what lint should pass."""
    made = from_schema(schema(KIND_FILES[kind]), KIND_FILES[kind], valid=True)
    return st.tuples(made, st.randoms(use_true_random=False)).map(
        lambda pair: repair(kind, pair[0], pair[1])
    )


def repair(kind: str, data: dict[str, Any], rng: Any) -> dict[str, Any]:
    """Make schema-made data meet the rules JSON Schema cannot state: unique names, references
    that resolve (earlier phase outputs, declared software, earlier steps, contract columns),
    no artifacts read from nowhere. Whatever else the schema allows stays as drawn."""
    body = data["spec"]
    body.pop("deps", None)
    if "params" in body:  # a scheduled DAG's params must resolve to their defaults
        body["params"] = {
            name: options for name, options in body["params"].items() if _default_fits(options)
        }
    {
        "Entity": _repair_entity,
        "Manifest": _repair_manifest,
        "ReductionPipeline": _repair_reduction,
    }[kind](body, rng)
    _drop_pools(body)  # the project declares one pool, the default: name no other
    body.pop("notify", None)  # and no notification channels
    return data


def _drop_pools(node: Any) -> None:
    """Remove every task-setting `pool` (any level); params and contracts keep their own keys."""
    if isinstance(node, dict):
        if isinstance(node.get("pool"), str):
            del node["pool"]
        for key, value in node.items():
            if key not in ("params", "env", "environment", "parameters"):
                _drop_pools(value)
    elif isinstance(node, list):
        for item in node:
            _drop_pools(item)


def _default_fits(options: dict[str, Any]) -> bool:
    from jsonschema import Draft202012Validator, FormatChecker

    schema = {k: v for k, v in options.items() if k not in ("default", "description")}
    return Draft202012Validator(schema, format_checker=FormatChecker()).is_valid(
        options.get("default")
    )


def _unique(items: list[dict[str, Any]], key: str = "name", suffix: str = "") -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        while item[key] in seen:
            item[key] = f"{item[key][:40]}{suffix}{i}"
        seen.add(item[key])


def _repair_entity(body: dict[str, Any], rng: Any) -> None:
    body.pop("extends", None)
    body["abstract"] = False
    phases = body.setdefault("phases", [])
    if not phases:
        phases.append({"name": "pull", "modules": [{"name": "fetch", "command": ["true"]}]})
    _unique(phases)
    modules = [m for phase in phases for m in phase["modules"]]
    _unique(modules, suffix="-")
    produced: list[str] = []
    outs: set[str] = set()
    for phase in phases:
        here = []
        for module in phase["modules"]:
            module.pop("deps", None)
            if isinstance(module["command"], str) and not _splits(module["command"]):
                module["command"] = [module["command"]]  # a lone quote: one argument
            module["outputs"] = [
                f"{phase['name']}/{o.split('/')[-1] or 'x'}" for o in module.get("outputs", [])
            ]
            module["outputs"] = list(dict.fromkeys(module["outputs"]))
            module["inputs"] = {
                k: rng.choice(produced) for k in module.get("inputs", {}) if produced
            }
            module["outs"] = [
                o
                for o in dict.fromkeys(module.get("outs", []))
                if o not in outs and not outs.add(o)
            ]
            here += module["outputs"]
        produced += here
    promote = [item for item in body.get("promote", []) if produced]
    for item in promote:
        item["from"] = rng.choice(produced)
    tos: set[str] = set(outs)
    body["promote"] = [i for i in promote if i["to"] not in tos and not tos.add(i["to"])]


def _splits(command: str) -> bool:
    import shlex

    try:
        shlex.split(command)
    except ValueError:
        return False
    return True


def _repair_manifest(body: dict[str, Any], rng: Any) -> None:
    _unique(body["processes"], suffix="_")
    outs: set[str] = set()
    taken: set[str] = set()  # table identities of sinks, staging tables and marts (DS207)
    for i, process in enumerate(body["processes"]):
        process.pop("deps", None)
        process["outs"] = [
            o for o in dict.fromkeys(process.get("outs", [])) if o not in outs and not outs.add(o)
        ]
        columns = process["contract"]["columns"]
        _unique(columns, suffix="_")
        names = [c["name"] for c in columns]
        for column in columns:
            if column["type"] == "decimal":
                column["scale"] = min(column["scale"], column["precision"])
        sink = process["sink"]
        if "merge_key" in sink:
            sink["merge_key"] = list(dict.fromkeys(rng.choice(names) for _ in sink["merge_key"]))
            if not sink["merge_key"]:
                sink.pop("merge_key")
                if sink.get("strategy") == "merge":
                    sink.pop("strategy")
        sink["table"] = _free_table(_own_table(sink["table"], ""), taken, i, stage=True)
        if "publish" in process:
            publish = process["publish"]
            publish["table"] = _free_table(
                _own_table(publish["table"], sink["table"]), taken, i, stage=False
            )
            for key in ("group_by", "sum", "avg"):
                if key in publish:
                    publish[key] = list(dict.fromkeys(rng.choice(names) for _ in publish[key]))
                    if key != "group_by":  # sums and averages need numbers (DS202)
                        numeric = {c["name"] for c in columns if c["type"] in NUMBERS}
                        publish[key] = [n for n in publish[key] if n in numeric]
                    if not publish[key]:
                        if key == "group_by":
                            publish[key] = [names[0]]
                        else:
                            publish.pop(key)
        source = process["source"]
        if source["kind"] == "table" and "watermark_column" in source:
            source["watermark_column"] = rng.choice(names)


# Tables the meta-log owns (compiler/kinds/manifest.py, rule DS207).
_META_TABLES = (
    "ingestion_log",
    "validation_log",
    "stage_load_log",
    "transform_log",
    "publish_log",
    "load_audit",
    "process_state",
    "unit_actions",
    "dagspec_loaded_units",
)


NUMBERS = ("integer", "decimal")


def _identity(name: str) -> str:
    """As lint compares tables: `main.` and `public.` are the default schema, case folds."""
    schema, _, table = name.lower().rpartition(".")
    return table if schema in ("", "main", "public") else f"{schema}.{table}"


def _free_table(name: str, taken: set[str], i: int, *, stage: bool) -> str:
    """A table no other process of the manifest uses (nor its staging table)."""

    def ids(n: str) -> set[str]:
        return {_identity(n), _identity(n) + "__dgs_stage"} if stage else {_identity(n)}

    candidate, n = name, 1
    while ids(candidate) & taken:  # the renamed table may be taken too (the sink's own `_p{i}`)
        candidate, n = (f"{name}_p{i}" if n == 1 else f"{name}_p{i}_{n}"), n + 1
    taken.update(ids(candidate))
    return candidate


def _own_table(name: str, sink: str) -> str:
    """A table name no meta-log table and not the sink (a mart needs its own table)."""
    bare = name.rpartition(".")[2].lower()
    if bare in _META_TABLES or bare.endswith("__dgs_stage") or _identity(name) == _identity(sink):
        return f"{name}_t{len(name)}" if not name.endswith("__dgs_stage") else f"{name}_t"
    return name


def _repair_reduction(body: dict[str, Any], rng: Any) -> None:
    steps = body["steps"]
    _unique(steps, suffix="_")
    software = body["software"]
    for entry in software.values():
        if "latest" in entry and entry["latest"] not in entry["versions"]:
            entry["latest"] = rng.choice(entry["versions"])
    earlier: list[dict[str, Any]] = []
    outs: set[str] = set()
    for step in steps:
        step.pop("deps", None)
        step["outs"] = [
            o for o in dict.fromkeys(step.get("outs", [])) if o not in outs and not outs.add(o)
        ]
        if step["software"] not in software:
            step["software"] = rng.choice(sorted(software))
        versions = software[step["software"]]["versions"]
        if "pinned_version" in step and step["pinned_version"] not in versions:
            step["pinned_version"] = rng.choice(versions)
        ups = [u for u in step.get("depends_on", []) if any(s["name"] == u for s in earlier)]
        step["depends_on"] = list(dict.fromkeys(ups))
        group = list(step.get("group_by", []))
        for upstream in step["depends_on"]:
            theirs = next(s for s in earlier if s["name"] == upstream).get("group_by", [])
            group = [g for g in group if g in theirs]
        step["group_by"] = group
        config = step["config"]  # free text keeps its braces literal: `{x}` is a field to fill
        text = config["command_template"].replace("{", "{{").replace("}", "}}")
        config["command_template"] = text + " {inputs} {output_dir}"
        earlier.append(step)


WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.just(float("nan")),
    st.just(float("inf")),
    st.text(),
    st.sampled_from(PAYLOADS),
    st.just("y" * 200_000),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
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
            parent[draw(st.sampled_from([str(last)[:-1], str(last) + "s", str(last).upper()]))] = (
                parent.pop(last)
            )
    return data


class _Dumper(yaml.SafeDumper):
    """PyYAML writes YAML 1.1: it leaves `068` or `1_0` unquoted, which YAML 1.2 (what dagspec
    and editors read) takes as numbers. Quote every string a 1.2 reader would not read back."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    from compiler.loader import _LOADER

    resolvers = _LOADER.yaml_implicit_resolvers.get(value[:1], [])
    typed = any(regex.match(value) for _tag, regex in resolvers)
    style = '"' if typed else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(data: Any, unicode: bool) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=unicode, sort_keys=False, width=10**6)


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
    lambda t: (
        t
        + "bomb: &a [x, x]\n"
        + "".join(
            f"b{i}: &b{i} [*{'a' if i == 0 else f'b{i - 1}'}"
            + f", *{'a' if i == 0 else f'b{i - 1}'}]\n"
            for i in range(30)
        )
    ),
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
    data = draw(st.one_of(spec_strategy(kind), valid_spec(kind)))
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
    "Module",
    "Expr",
    "Assign",
    "Attribute",
    "BinOp",
    "Div",
    "RShift",
    "Call",
    "Constant",
    "Dict",
    "List",
    "Tuple",
    "Load",
    "Store",
    "Name",
    "With",
    "withitem",
    "alias",
    "keyword",
    "Import",
    "ImportFrom",
    "FunctionDef",
    "arguments",
    "arg",
    "Subscript",
    "UnaryOp",
    "USub",
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
        elif (
            isinstance(node, ast.keyword)
            and node.arg is not None
            and not re.fullmatch(r"[a-z_][a-z0-9_]*", node.arg)
        ):
            problems.append(f"keyword {node.arg}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id not in imported | defined | BUILTINS
        ):
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
    return {
        n.value
        for n in ast.walk(ast.parse(text))
        if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


ROOT = Path(__file__).resolve().parents[3]
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
    done = subprocess.run(
        [sys.executable, "-c", _DAGBAG, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1])
