"""A finding is a value: what is wrong, where, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from compiler.rules import RULES

Path = tuple[str | int, ...]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in one file; rules fill in path and message, the source map the position."""

    file: str
    line: int
    col: int
    code: str
    message: str
    path: str = ""
    suggestion: str | None = None
    severity: Severity = field(default=Severity.ERROR, compare=False)
    #: other places the finding is about, as (file, line, col): the first definition of a
    #: duplicated name, the entity whose DAG an abstract spec's error breaks. A lint of some
    #: files reports every finding located in them or related to them.
    related: tuple[tuple[str, int, int], ...] = field(default=(), compare=False)

    def with_related(self, *places: tuple[str, int, int]) -> Finding:
        merged = tuple(dict.fromkeys([*self.related, *places]))
        return replace(self, related=merged)

    def involves(self, files: set[str]) -> bool:
        return self.file in files or any(place[0] in files for place in self.related)

    @property
    def rule(self) -> str:
        return RULES[self.code].name

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "code": self.code,
            "rule": self.rule,
            "severity": self.severity.value,
            "path": self.path,
            "message": self.message,
            "suggestion": self.suggestion,
            "related": [{"file": f, "line": ln, "col": c} for f, ln, c in self.related],
        }


def format_path(path: Path) -> str:
    """`('spec', 'phases', 2, 'name')` → `spec.phases[2].name`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
