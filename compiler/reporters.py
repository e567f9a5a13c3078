"""Output formats for findings, all built from the same list; the mapping is the CLI's choices."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from compiler.findings import Finding, Severity
from compiler.sarif import sarif

Reporter = Callable[[list[Finding], Path], str]


def text(findings: list[Finding], root: Path) -> str:
    """Compiler-style lines with the offending source line and a caret under the column."""
    lines: list[str] = []
    cache: dict[str, list[str]] = {}
    for f in findings:
        where = f" {f.path}:" if f.path else ""
        lines.append(
            f"{f.file}:{f.line}:{f.col}: {f.severity.value}[{f.code} {f.rule}]{where} {f.message}"
        )
        source = _source_line(root, f.file, f.line, cache)
        if source is not None:
            gutter = f"{f.line:>5} | "
            lines.append(gutter + source)
            lines.append(" " * (len(gutter) - 2) + "| " + " " * (f.col - 1) + "^")
        if f.suggestion:
            lines.append(f"  help: {f.suggestion}")
        lines += [f"  see also: {file}:{line}:{col}" for file, line, col in f.related]
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = len(findings) - errors
    files = len({f.file for f in findings})
    lines.append(
        f"{errors} error(s), {warnings} warning(s) in {files} file(s)"
        if findings
        else "no findings"
    )
    return "\n".join(lines) + "\n"


def as_json(findings: list[Finding], root: Path) -> str:
    return json.dumps([f.as_dict() for f in findings], indent=2) + "\n"


def github(findings: list[Finding], root: Path) -> str:
    """GitHub Actions workflow commands: annotations on the pull request's changed lines."""
    lines = []
    for f in findings:
        props = ",".join(
            f"{key}={_escape_property(str(value))}"
            for key, value in (
                ("file", f.file),
                ("line", f.line),
                ("col", f.col),
                ("title", f"{f.code} {f.rule}"),
            )
        )
        text = f"{f.path}: {f.message}" if f.path else f.message
        if f.suggestion:
            text += f"\nhelp: {f.suggestion}"
        lines.append(f"::{f.severity.value}{' ' + props}::{_escape_data(text)}")
    return "".join(line + "\n" for line in lines)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _source_line(root: Path, file: str, line: int, cache: dict[str, list[str]]) -> str | None:
    if file not in cache:
        path = Path(file) if Path(file).is_absolute() else root / file
        try:
            cache[file] = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            cache[file] = []
    rows = cache[file]
    return rows[line - 1].replace("\t", " ") if 0 < line <= len(rows) else None


REPORTERS: dict[str, Reporter] = {
    "text": text,
    "json": as_json,
    "github": github,
    "sarif": sarif,
}
