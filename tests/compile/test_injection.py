"""Spec values are data, never code: hostile strings in every string field stay literals."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path
from typing import Any

import yaml

from compiler import api

PAYLOADS = [
    "'''); import os; os.system('x') #",
    "{{ 7*7 }}",
    '"""\nimport os\nos.system("rm -rf /")\n"""',
    "\\'; __import__('os').system('id') #",
    "{% raw %}{{ config }}{% endraw %}",
    "\u2028\u2029 é \x0b end",
    "${HOME} $(id) `id`",
]
FIXED_KEYS = {"apiVersion", "kind", "name", "type", "schedule", "extends"}

BASELINE: dict[str, Any] = {
    "apiVersion": "dagspec/v1",
    "kind": "Entity",
    "metadata": {"name": "victim", "owner": "team", "tags": ["t1", "t2"], "description": "d"},
    "spec": {
        "env": {"GLOBAL": "g"},
        "params": {
            "region": {
                "type": "string",
                "enum": ["eu", "us"],
                "default": "eu",
                "title": "Region",
                "description": "where",
            }
        },
        "phases": [
            {
                "name": "pull",
                "description": "p1",
                "modules": [
                    {
                        "name": "fetch",
                        "command": ["python", "fetch.py"],
                        "env": {"K": "v"},
                        "outputs": ["pull/data.json"],
                    }
                ],
            },
            {
                "name": "build",
                "description": "p2",
                "modules": [
                    {
                        "name": "make",
                        "command": ["python", "make.py", "--x"],
                        "inputs": {"data": "pull/data.json"},
                        "outputs": ["build/out.sql"],
                    }
                ],
            },
        ],
        "promote": [{"from": "build/out.sql", "to": "out/{entity}.sql"}],
    },
}


def _hostile(value: Any, payloads: itertools.cycle, table: dict[str, str], key: str = "") -> Any:
    """The same structure with every free string extended by a payload (same input, same output)."""
    if isinstance(value, dict):
        return {k: _hostile(v, payloads, table, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_hostile(v, payloads, table, key) for v in value]
    if isinstance(value, str) and key not in FIXED_KEYS:
        if value not in table:
            table[value] = value + next(payloads)
        return table[value]
    return value


def _compile(root: Path, spec: dict[str, Any]) -> str:
    (root / "specs").mkdir(parents=True)
    (root / "dagspec.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "dagspec/v1",
                "kind": "Project",
                "metadata": {"name": "p"},
                "spec": {"entities": ["victim"]},
            }
        )
    )
    (root / "specs" / "victim.yaml").write_text(yaml.safe_dump(spec, allow_unicode=False))
    result = api.compile_project(root)
    assert result.ok, result.findings
    return (root / "generated_dags" / "victim.py").read_text()


def _shape(tree: ast.AST) -> str:
    """The AST with every string constant blanked: what the template, not the spec, decides."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = "<s>"
    return ast.dump(tree)


def _strings(tree: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_hostile_values_compile_to_the_same_code_shape(tmp_path: Path) -> None:
    table: dict[str, str] = {}
    hostile = _hostile(BASELINE, itertools.cycle(PAYLOADS), table)
    plain_tree = ast.parse(_compile(tmp_path / "plain", BASELINE))
    hostile_tree = ast.parse(_compile(tmp_path / "hostile", hostile))
    assert _shape(hostile_tree) == _shape(plain_tree)


def test_hostile_values_arrive_exactly_as_written(tmp_path: Path) -> None:
    table: dict[str, str] = {}
    hostile = _hostile(BASELINE, itertools.cycle(PAYLOADS), table)
    strings = _strings(ast.parse(_compile(tmp_path, hostile)))
    emitted_verbatim = [v for k, v in table.items() if k not in ("d",)]
    for value in emitted_verbatim:
        assert value in strings, f"{value!r} did not arrive verbatim"
    docstring = next(s for s in strings if s.startswith("Entity pipeline"))
    assert docstring.endswith(table["d"])


def test_no_call_or_name_comes_from_a_spec_value(tmp_path: Path) -> None:
    hostile = _hostile(BASELINE, itertools.cycle(PAYLOADS), {})
    tree = ast.parse(_compile(tmp_path, hostile))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not {"system", "subprocess", "__import__", "eval", "exec"} & names
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert calls <= {
        "DAG",
        "Param",
        "TaskGroup",
        "datetime",
        "os.path.normpath",
        "os.path.join",
        "os.path.dirname",
        "os.path.abspath",
        "PrepareWorkspaceOperator",
        "ModuleOperator",
        "PhaseGateOperator",
        "PromoteOperator",
        "PipelineResultOperator",
    }
