"""The layout measures a line as ruff does, for every character.

ruff is the oracle twice over: its E501 report gives the width of every code point (the table in
`compiler.char_width` must equal it), and `ruff format` must leave alone what the layout produced
at the edge of the line length, with a sample of every run of the table (combining marks,
Devanagari and Arabic signs, East Asian wide characters, …) and of ordinary characters.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import unicodedata
from pathlib import Path

from compiler.char_width import RUNS
from compiler.layout import LINE_LENGTH, lay_out, width

ROOT = Path(__file__).resolve().parents[2]


def _table_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "char_width_table", ROOT / "scripts" / "char_width_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_is_what_ruff_measures_for_every_code_point() -> None:
    script = _table_script()
    assert tuple(script.ranges(script.measured())) == RUNS, (
        "ruff measures characters differently from compiler/char_width.py: regenerate it with "
        "`.venv/bin/python scripts/char_width_table.py > compiler/char_width.py`"
    )


def _samples() -> list[str]:
    """One character of every run whose width is not 1 (its first and last) and ordinary ones;
    control characters are left out (generated code holds them only as escapes)."""
    chars = {chr(point) for first, last, _ in RUNS for point in (first, last)}
    chars |= set("aé日नमस्तेعربي")
    return sorted(c for c in chars if unicodedata.category(c) not in ("Cc", "Cs") and c != '"')


def _statement(char: str, columns: int, count: int) -> str:
    """`value = callee("…", "b")` exactly `columns` wide, with up to `count` of `char` in its
    string (as many as fit: a line of wide characters is short in characters)."""
    head, tail = 'value = callee("', '", "b")'
    text = char * count
    while count and width(head + text + tail) > columns:
        count -= 1
        text = char * count
    pad = columns - width(head + text + tail)
    return head + "x" * pad + text + tail


def test_ruff_format_keeps_what_the_layout_writes_at_the_line_length(tmp_path: Path) -> None:
    statements = [
        lay_out(_statement(char, columns, count))
        for char in _samples()
        for columns in (LINE_LENGTH, LINE_LENGTH + 1)
        for count in (8, LINE_LENGTH)
    ]
    source = "\n".join(statements) + "\n"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--isolated",
            "--line-length",
            str(LINE_LENGTH),
            "--stdin-filename",
            "dag.py",
            "-",
        ],
        input=source,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    differing = [
        (ours, theirs)
        for ours, theirs in zip(source.splitlines(), done.stdout.splitlines(), strict=False)
        if ours != theirs
    ]
    assert not differing and source == done.stdout, differing[:3]
