"""compiler.layout's shortcuts give the lines `fit` gives: a keyword argument that is one string
literal is left whole, and a long line met again is laid out as the first time."""

from __future__ import annotations

from compiler.layout import fit, lay_out

LINES = [
    '            doc_md="**pull.m0**: run (a, b) [c] {d} for it, \\"quoted\\" \' and more text '
    'until the line is far too long",',
    "            doc_md='single (quoted) text, long enough to pass the line length of one hundred "
    "columns: yes',",
    '        "target": Param("dev", type=["string", "null"], enum=["dev", "prod"], title="Target", '
    'description="Where the modules deploy to."),',
    "    mapping={"
    + ", ".join(f'"ship/out{i}.json": "out/{{entity}}/out{i}.json"' for i in range(3))
    + "},",
    '            command=["python", "modules/a_very_long_module_name.py", "--manifest", "FILE", '
    '"--json"],',
]


def test_shortcuts_lay_out_each_line_as_fit_does() -> None:
    text = "\n".join(LINES + LINES)  # each long line twice: the second is remembered
    expected = "\n".join(row for line in LINES + LINES for row in fit(line))
    assert lay_out(text) == expected
    assert lay_out(text) == expected  # and again, all remembered


def test_a_keyword_argument_of_one_string_is_left_whole() -> None:
    assert lay_out(LINES[0]) == LINES[0]
    assert lay_out(LINES[1]) == LINES[1]
    assert fit(LINES[0]) == [LINES[0]]
