"""Long lines of a generated DAG file, laid out as `ruff format` lays them out.

The templates write every statement on one line; a line wider than the project's line length
is split at its last bracket pair, the way ruff (and black) split the right-hand side:

- a call's arguments first go on one indented line of their own, if that fits;
- otherwise, and always for a list, dict or tuple, one item per line with a trailing comma;
- each new line is laid out the same way in turn.

A line with no bracket to split (a long string, a comment) stays as it is; the project's lint
allows long lines in generated files for that reason (spec text is kept whole).
Only the lines the templates produce need handling: one logical line each, no triple-quoted
strings, no comments after code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from compiler.char_width import MAX_CHAR_WIDTH, char_width

LINE_LENGTH = 100
_OPEN, _CLOSE = "([{", ")]}"
#: a line that is one string literal (a text constant's line), or a keyword argument that is
#: one (a task's `doc_md=`): nothing to split
_STRING_LINE = re.compile(
    r"""^ *(?:[A-Za-z_][A-Za-z0-9_]*=)?(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'),?$"""
)
_NAME_END = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_)]")


def width(line: str) -> int:
    """Columns a line takes as ruff counts them: combining marks take none, East Asian wide
    characters two (`compiler.char_width`, measured from ruff itself)."""
    if line.isascii() and line.isprintable():
        return len(line)
    return sum(map(char_width, line))


def overlong(line: str) -> bool:
    """Wider than the line length (a character takes zero to three columns)."""
    if line.isascii() and line.isprintable():
        return len(line) > LINE_LENGTH
    return len(line) > LINE_LENGTH // MAX_CHAR_WIDTH and width(line) > LINE_LENGTH


def lay_out(text: str) -> str:
    """The file with every overlong line split; short lines untouched."""
    lines = text.split("\n")
    ascii_only = text.isascii()  # then a line's width is its length
    out: list[str] = []
    for line in lines:
        n = len(line)  # `overlong` inlined for the lines that cannot be (most of them)
        if (
            n > LINE_LENGTH
            or (not ascii_only and n > LINE_LENGTH // MAX_CHAR_WIDTH and overlong(line))
        ) and not _STRING_LINE.match(line):
            out.extend(_fitted(line))
        else:
            out.append(line)
    return "\n".join(out)


@lru_cache(maxsize=4096)
def _fitted(line: str) -> tuple[str, ...]:
    """`fit`, remembered: many files of a project share long lines (params, imports)."""
    return tuple(fit(line))


def fit(line: str) -> list[str]:
    """One line as the lines ruff would make of it."""
    if not overlong(line):
        return [line]
    text = line.lstrip(" ")
    indent = line[: len(line) - len(text)]
    pair = _last_pair(text)
    if pair is None:
        if _CHAIN.match(text):  # `a >> b >> c` too wide: ruff splits it at each operator
            first, *rest = text.split(" >> ")
            pad = indent + "    "
            return [f"{indent}(", pad + first, *(f"{pad}>> {name}" for name in rest), f"{indent})"]
        return [line]
    start, end = pair
    assigned = _ASSIGNMENT.match(text)
    if assigned and overlong(indent + text[: start + 1]) and not tail_is_more(text, end):
        # ruff: when even `name = callee(` does not fit, the right-hand side goes in parentheses
        return [
            f"{indent}{assigned.group(1)} = (",
            *fit(indent + "    " + assigned.group(2)),
            f"{indent})",
        ]
    head, body, tail = text[: start + 1], text[start + 1 : end].strip(), text[end:]
    items = _split_commas(body)
    if not body or items is None:
        return [line]
    magic = len(items) > 1 and items[-1] == ""
    items = [item for item in items if item]
    pad = indent + "    "
    call = text[start] == "(" and start > 0 and text[start - 1] in _NAME_END
    if call and not magic and width(pad + body) <= LINE_LENGTH:
        return [indent + head, pad + body, indent + tail]
    if len(items) == 1 and not magic:
        inner = fit(pad + items[0])
    else:
        inner = [row for item in items for row in fit(f"{pad}{item},")]
    return [indent + head, *inner, indent + tail]


#: a dependency chain of task variables: `workspace >> pull >> build >> promote`
_CHAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?: >> [A-Za-z_][A-Za-z0-9_]*)+$")
#: `name = value` where the value is not bracketed as a whole already
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*) = ([^(\[{].*)$")


def tail_is_more(text: str, end: int) -> bool:
    """Whether code follows the last bracket pair (then the pair is not the value's end)."""
    return bool(text[end + 1 :].strip())


_TOKEN = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[()\[\]{},#]""")


def _scan(text: str) -> Iterator[tuple[int, str]]:
    """(index, character) of each bracket and comma outside strings; "#" at a comment, last."""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0] in "'\"":
            continue
        yield match.start(), token
        if token == "#":
            return


def _last_pair(text: str) -> tuple[int, int] | None:
    """The outermost bracket pair that closes last on the line: (open, close) indexes."""
    stack: list[int] = []
    last: tuple[int, int] | None = None
    for i, c in _scan(text):
        if c == "#":
            return None
        if c in _OPEN:
            stack.append(i)
        elif c in _CLOSE:
            if not stack:
                return None
            start = stack.pop()
            if not stack:
                last = (start, i)
    return None if stack else last


def _split_commas(body: str) -> list[str] | None:
    """The comma-separated items of a bracket's body (an empty last item: a trailing comma)."""
    items, depth, begin = [], 0, 0
    for i, c in _scan(body):
        if c == "#":
            return None
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif depth == 0:
            items.append(body[begin:i].strip())
            begin = i + 1
    items.append(body[begin:].strip())
    return items
