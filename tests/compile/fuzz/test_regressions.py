"""Inputs the fuzzer found that broke a promise, kept as plain, deterministic tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import api


def assert_ruff_formatted(folder: Path) -> None:
    """`ruff format` would leave every file in `folder` as it is."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "--check", "--diff", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


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


def test_a_continuous_entity_imports_in_a_real_dagbag(tmp_path: Path) -> None:
    """Found by `make fuzz`: an Entity with `schedule: "@continuous"` passed lint and compiled
    with max_active_runs=16, which Airflow refuses on import ("ContinuousTimetable requires
    max_active_runs <= 1"), so the DAG vanished from the UI."""
    from specgen import dagbag

    root = Path(__file__).resolve().parents[3]
    project = tmp_path / "project"
    shutil.copytree(root / "specs", project / "specs")
    shutil.copy(root / "dagspec.yaml", project / "dagspec.yaml")
    spec = project / "specs" / "waste-tracking.yaml"
    spec.write_text(spec.read_text() + '  schedule: "@continuous"\n')
    assert [f for f in api.lint(project, []) if f.severity.value == "error"] == []
    result = api.compile_project(project)
    assert result.ok, [f.as_dict() for f in result.findings]
    report = dagbag(project / "generated_dags", tmp_path / "airflow-home")
    assert report["errors"] == {}
    assert "waste-tracking" in report["dags"]


def test_a_large_float_is_written_as_ruff_format_writes_it(tmp_path: Path) -> None:
    """Found by `make fuzz`: a float such as 1e16 (a filter rule's value) was written `1e+16`,
    which `ruff format` rewrites to `1e16`, so the generated file was not formatted; the
    literal must still read back as exactly the same float."""
    import ast

    from compiler.render import literal

    values = [1e16, 1.5e300, -2.5e22, 1e-05, 5e-324, 1.7976931348623157e308, 0.1, 123.0]
    source = "".join(f"x{i} = {literal(v)}\n" for i, v in enumerate(values))
    assert "e+" not in source
    parsed = [ast.literal_eval(line.split(" = ")[1]) for line in source.splitlines()]
    assert parsed == values
    (tmp_path / "floats.py").write_text(source)
    assert_ruff_formatted(tmp_path)


def test_an_assignment_whose_head_is_too_long_gets_parentheses(tmp_path: Path) -> None:
    """Found by `make fuzz`: a reduction step with a long name made the line
    `x_runs = x.expand(` wider than 100 columns on its own; ruff then puts the right-hand side
    in parentheses, and the layout split only the call's arguments (the file was unformatted)."""
    from compiler.layout import lay_out

    name = "per__alias__anchor___python_object_os_system"
    line = f"    {name}_runs = {name}.expand(sub_group=discover_{name}.output)"
    text = "with x:\n" + lay_out(line) + "\n"
    assert f"{name}_runs = (\n" in text
    (tmp_path / "dag.py").write_text(text)
    assert_ruff_formatted(tmp_path)


def test_a_long_chain_of_tasks_is_split_at_each_operator(tmp_path: Path) -> None:
    """Found by `make fuzz`: an entity with long phase names made its dependency line
    `workspace >> a >> b >> ... >> result` wider than 100 columns; ruff splits it inside
    parentheses, one `>>` per line, and the layout left it whole."""
    from compiler.layout import lay_out

    names = ["workspace", "zpdk", "ojwv7ybsv_d0dlwvsalpl", "t_02mg6", "x_ttyf9g260n333es8ed"]
    line = "    " + " >> ".join([*names, "promote", "result"])
    text = "with x:\n" + lay_out(line) + "\n"
    assert "        >> result\n    )" in text
    (tmp_path / "dag.py").write_text(text)
    assert_ruff_formatted(tmp_path)


#: every character Python or ruff (Rust's White_Space) reads as whitespace, and text that
#: needs escapes or quotes at a docstring's edges
_EDGES = [
    *"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000",
    "û\x08 ",
    '"',
    "'",
    "\\",
    "\x08",
    "\u200b",
]


def test_spec_text_at_a_docstrings_edges_leaves_the_file_formatted(tmp_path: Path) -> None:
    """Found by `make fuzz`: a description ending in a space (`û\\x08 `) became the generated
    file's docstring `"Entity pipeline `r`: û\\x08 "`, which ruff format trims; the file was not
    formatted. Every whitespace character and escape at either edge of the text, one file each."""
    from compiler.render import docstring

    for number, edge in enumerate(_EDGES):
        for text in (f"Entity pipeline `a`: x{edge}", f"{edge}x", f"x{edge}{edge}y{edge}"):
            source = f"{docstring(text)}\n\nfrom __future__ import annotations\n"
            (tmp_path / f"dag_{number}_{len(text)}_{text.startswith(edge)}.py").write_text(
                source, encoding="utf-8"
            )
    assert_ruff_formatted(tmp_path)
