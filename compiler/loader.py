"""Safe YAML loading that can tell where every key and value stands (made on demand).

The text is parsed exactly as the author wrote it (no templating or env expansion first), so
every line and column points into their file. Only plain data is built: any tag other than the
YAML core schema is refused, as are oversized files, alias bombs and absurd nesting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Protocol

import yaml

from compiler.findings import Finding, Path

MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64

_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Core12Loader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """PyYAML's safe loader, resolving plain scalars by the YAML 1.2 core schema.

    That is the schema yaml-language-server and check-jsonschema use: only `true`/`false`
    are booleans (`yes`, `no`, `on`, `off`, `y`, `n` are strings), `~`/`null`/empty is null,
    integers are decimal, `0o` octal or `0x` hex (no `_`, no sexagesimal), and dates are
    strings. So a spec means the same to dagspec as to the editor that validated it.
    """

    yaml_implicit_resolvers: dict = {}

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        """PyYAML's `resolve` without the path resolvers and wildcards this loader never has
        (the parser calls it for every node, from C)."""
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return "tag:yaml.org,2002:str"
        return "tag:yaml.org,2002:seq" if kind is yaml.SequenceNode else "tag:yaml.org,2002:map"

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        """No path resolvers: nothing to track per node."""

    def ascend_resolver(self) -> None:
        """No path resolvers: nothing to track per node."""


for _tag, _regex, _first in [
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("merge", r"^(?:<<)$", "<"),  # so `<<:` is refused as a merge key (DS006), not a key
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
]:
    _Core12Loader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(_regex), list(_first)
    )
assert None not in _Core12Loader.yaml_implicit_resolvers and not _Core12Loader.yaml_path_resolvers
_LOADER = _Core12Loader
_CORE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
}
_SCALARS = yaml.constructor.SafeConstructor()


@dataclass
class SourceMap:
    """Spec path → 1-based (line, column) of the value, and of the key that names it."""

    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    plain: dict[Path, str] = field(default_factory=dict)  # unquoted non-string scalars as written

    def locate(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of `path`, or of its nearest ancestor that exists in the file."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in table:
                return table[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)


class Document(Protocol):
    """One spec file as the checks read it: its name as findings show it, its bytes, its data,
    and where each piece of the data came from (`marks`)."""

    @property
    def file(self) -> str: ...

    @property
    def raw(self) -> bytes: ...

    @property
    def data(self) -> Any: ...

    @property
    def marks(self) -> SourceMap: ...


@dataclass
class ParsedDocument:
    """A `Document` parsed from its bytes: the data, the bytes, and the source map.

    The source map is made from the bytes when first asked for (`marks`): most specs have no
    finding, and building data without positions is several times cheaper (see `load_bytes`).
    """

    file: str
    data: Any
    source_map: SourceMap | None = field(compare=False)
    raw: bytes

    @property
    def marks(self) -> SourceMap:
        """Spec path → position, parsed again from the bytes on first use."""
        if self.source_map is None:
            self.source_map = source_map(self.raw)
        return self.source_map


class _Refused(Exception):
    def __init__(self, code: str, message: str, mark: yaml.Mark | None, suggestion: str | None):
        super().__init__(message)
        self.code, self.message, self.mark, self.suggestion = code, message, mark, suggestion


def load_file(path: FsPath, display: str | None = None) -> tuple[Document | None, list[Finding]]:
    """Load one spec file; on any problem return no document and the findings that explain it."""
    name = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Finding(name, 1, 1, "DS008", f"cannot read the file: {exc.strerror}")]
    return load_bytes(raw, name)


def load_bytes(
    raw: bytes, name: str, *, marks: bool | None = None
) -> tuple[Document | None, list[Finding]]:
    """Load one spec from its bytes (see `load_file`).

    The lean way (the default, `LEAN`) builds the data without source positions and leaves
    the source map to be made on first use; anything only the marked build reports (a
    refused tag, a duplicate key, a value that is no YAML 1.2 scalar, the size limits) sends
    the file down the marked way, so its findings are the same. `marks=True`: build the
    source map now, as the marked way always did.
    """
    if not (LEAN if marks is None else not marks):
        return _load_marked(raw, name)
    text = _text(raw, name)
    if isinstance(text, Finding):
        return None, [text]
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError:
        return _load_marked(raw, name)
    if node is None:
        return _load_marked(raw, name)
    try:
        data = _LeanBuilder().build(node, 0)
    except _NeedsMarks:
        return _load_marked(raw, name)
    return ParsedDocument(name, data, None, raw), []


def source_map(raw: bytes) -> SourceMap:
    """The source map of bytes that loaded (empty if they no longer do)."""
    doc, _ = _load_marked(raw, "")
    return doc.marks if doc is not None else SourceMap()


def _text(raw: bytes, name: str) -> str | Finding:
    if len(raw) > MAX_BYTES:
        message = f"the file is {len(raw):,} bytes; a spec may be at most {MAX_BYTES:,}"
        return Finding(name, 1, 1, "DS004", message, suggestion="split it into smaller specs")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return Finding(name, line, 1, "DS001", "the file is not UTF-8 text")


def _load_marked(raw: bytes, name: str) -> tuple[Document | None, list[Finding]]:
    """Load with a source position for every key and value (`_Builder`)."""
    text = _text(raw, name)
    if isinstance(text, Finding):
        return None, [text]
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_finding(name, exc, text)]
    except yaml.YAMLError as exc:
        return None, [Finding(name, 1, 1, "DS001", str(exc))]
    if node is None:
        message = "the file holds no spec"
        hint = "start with `apiVersion: dagspec/v1`, then `kind`, `metadata` and `spec`"
        return None, [Finding(name, 1, 1, "DS007", message, suggestion=hint)]
    builder = _Builder()
    try:
        data = builder.build(node, ())
    except _Refused as exc:
        line, col = _position(exc.mark)
        return None, [Finding(name, line, col, exc.code, exc.message, suggestion=exc.suggestion)]
    findings = [
        Finding(
            name,
            line,
            col,
            "DS003",
            f"duplicate key `{key}` (first at line {first})",
            suggestion="remove one of them; YAML keeps only the last",
        )
        for key, first, (line, col) in builder.duplicates
    ]
    return ParsedDocument(name, data, builder.marks, raw), findings


def _position(mark: yaml.Mark | None) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _syntax_finding(name: str, exc: yaml.MarkedYAMLError, text: str) -> Finding:
    line, col = _position(exc.problem_mark or exc.context_mark)
    problem = exc.problem or "invalid YAML"
    rows = text.splitlines()
    at = rows[line - 1][col - 1 : col] if 0 < line <= len(rows) else ""
    if at == "\t" or "tab" in problem:
        return Finding(
            name,
            line,
            col,
            "DS002",
            "a tab character is used for indentation",
            suggestion="indent with spaces only",
        )
    opened = exc.context_mark
    if opened is not None and exc.context == "while scanning a quoted scalar":
        quote = rows[opened.line][opened.column] if opened.line < len(rows) else '"'
        return Finding(
            name,
            opened.line + 1,
            opened.column + 1,
            "DS001",
            f"the quoted string opened here with {quote} is never closed",
            suggestion=f"add the closing {quote} at the end of the value",
        )
    runaway = _runaway_quote(text)
    if runaway is not None and runaway.end_mark.line + 2 >= line:  # it ends where YAML breaks
        start, end = runaway.start_mark, runaway.end_mark
        quote = runaway.style
        return Finding(
            name,
            start.line + 1,
            start.column + 1,
            "DS001",
            f"the quoted string opened here with {quote} is never closed on its line: it runs "
            f"on to line {end.line + 1}, where the YAML then breaks",
            suggestion=f"add the closing {quote} at the end of the value",
        )
    if opened is not None and exc.context and exc.context.startswith("while parsing a flow"):
        bracket = "[" if "sequence" in exc.context else "{"
        return Finding(
            name,
            line,
            col,
            "DS001",
            f"YAML syntax error: {problem} inside the `{bracket}` opened at line "
            f"{opened.line + 1}, column {opened.column + 1}",
            suggestion=f"close the `{bracket}` or add the missing comma",
        )
    context = f" {exc.context}" if exc.context else ""
    return Finding(
        name,
        line,
        col,
        "DS001",
        f"YAML syntax error: {problem}{context}",
        suggestion="check the indentation and quoting on this line and the one above",
    )


def _core_scalar(node: yaml.Node) -> Any:
    """A YAML 1.2 core scalar (explicit tags such as `!!int` included)."""
    value, tag = node.value, node.tag.rsplit(":", 1)[-1]
    if tag == "null":
        return None
    if tag == "bool":
        if value.lower() not in ("true", "false"):
            raise _Refused(
                "DS103",
                f"`{value}` is not a YAML 1.2 boolean",
                node.start_mark,
                "write `true` or `false`",
            )
        return value.lower() == "true"
    if tag == "int":
        try:
            return (
                int(value[2:], 8)
                if value.startswith("0o")
                else int(value, 0)
                if value.startswith(("0x", "0X"))
                else int(value, 10)
            )
        except ValueError:
            raise _Refused("DS103", f"`{value}` is not an integer", node.start_mark, None) from None
    if tag == "float":
        lowered = value.lower()
        if lowered.lstrip("+-") in (".inf", ".nan"):
            sign = -1.0 if lowered.startswith("-") else 1.0
            return float("nan") if "nan" in lowered else sign * float("inf")
        try:
            return float(value)
        except ValueError:
            raise _Refused("DS103", f"`{value}` is not a number", node.start_mark, None) from None
    return _SCALARS.construct_object(node)


def _runaway_quote(text: str) -> yaml.ScalarToken | None:
    """The first quoted scalar that spans lines before a syntax error: in a spec that is a
    missing closing quote, and the place to report it (the parser only fails further on)."""
    try:
        for token in yaml.scan(text, Loader=_LOADER):
            if (
                isinstance(token, yaml.ScalarToken)
                and token.style in ('"', "'")
                and token.end_mark.line > token.start_mark.line
            ):
                return token
    except yaml.YAMLError:
        pass
    return None


class _Builder:
    """Turns a composed node tree into plain data and a source map, counting every node."""

    def __init__(self) -> None:
        self.marks = SourceMap()
        self.duplicates: list[tuple[str, int, tuple[int, int]]] = []
        self.count = 0

    def build(self, node: yaml.Node, path: Path) -> Any:
        if len(path) > MAX_DEPTH:
            raise _Refused(
                "DS011",
                f"the document nests deeper than {MAX_DEPTH} levels",
                node.start_mark,
                "specs are shallow; flatten this value",
            )
        self.count += 1
        if self.count > MAX_NODES:
            raise _Refused(
                "DS005",
                f"the document expands to more than {MAX_NODES:,} nodes",
                node.start_mark,
                "remove the anchors and aliases that repeat large parts",
            )
        if node.tag not in _CORE_TAGS:
            raise _Refused(
                "DS006",
                f"the tag `{node.tag}` is not allowed",
                node.start_mark,
                "specs hold plain data only: remove the tag",
            )
        self.marks.values.setdefault(path, _position(node.start_mark))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value
        if node.tag == "tag:yaml.org,2002:str":
            return node.value
        if isinstance(node, yaml.ScalarNode) and not node.style:  # plain (C: "", Python: None)
            self.marks.plain[path] = node.value
        return _core_scalar(node)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(
                    "DS006",
                    "merge keys (`<<`) are not supported",
                    key_node.start_mark,
                    "write the keys out, or use the spec's `extends`",
                )
            key = self.build(key_node, (*path, "<key>"))
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise _Refused(
                    "DS103", "a mapping key must be a plain scalar", key_node.start_mark, None
                )
            key = (
                key
                if isinstance(key, str)
                else str(key).lower()
                if isinstance(key, bool)
                else ("null" if key is None else str(key))
            )
            position = _position(key_node.start_mark)
            if key in out:
                self.duplicates.append((key, first_line[key], position))
            first_line.setdefault(key, position[0])
            self.marks.keys[(*path, key)] = position
            out[key] = self.build(value_node, (*path, key))
        self.marks.values.pop((*path, "<key>"), None)
        self.marks.plain.pop((*path, "<key>"), None)
        return out


#: build data without source positions first (see `load_bytes`); tests turn it off to compare
LEAN = True
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_STR, _TIMESTAMP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


class _NeedsMarks(Exception):
    """The lean build met something that only the marked build reports (with its place)."""


class _LeanBuilder:
    """`_Builder` without the source map: the same data from the same nodes, or _NeedsMarks
    wherever `_Builder` would refuse the document or report a duplicate key."""

    def __init__(self) -> None:
        self.count = 0

    def build(self, node: yaml.Node, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _NeedsMarks
        self.count += 1
        if self.count > MAX_NODES:
            raise _NeedsMarks
        tag = node.tag
        if tag not in _CORE_TAGS:
            raise _NeedsMarks
        kind = type(node)
        if kind is yaml.MappingNode:
            out: dict[Any, Any] = {}
            deeper = depth + 1
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    raise _NeedsMarks
                key = self.build(key_node, deeper)
                if type(key) is not str:
                    if isinstance(key, bool):
                        key = str(key).lower()
                    elif key is None:
                        key = "null"
                    elif isinstance(key, (int, float)):
                        key = str(key)
                    else:
                        raise _NeedsMarks  # a mapping or list as a key
                if key in out:
                    raise _NeedsMarks  # a duplicate key: reported with both places
                out[key] = self.build(value_node, deeper)
            return out
        if kind is yaml.SequenceNode:
            deeper = depth + 1
            return [self.build(item, deeper) for item in node.value]
        if tag in (_STR, _TIMESTAMP):
            return node.value
        try:
            return _core_scalar(node)
        except Exception:  # the marked build refuses it (or fails) the same way, in place
            raise _NeedsMarks from None
