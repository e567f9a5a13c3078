"""The data every stage shares: a checked spec, the DAG files it plans, the artifacts they
declare, and the analysis that holds them all.

This module depends only on loading and findings, so the stages read one way:
loader → validate → analysis → kinds / artifacts → output, each importing the types from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from compiler.findings import Finding, Severity, format_path
from compiler.findings import Path as SpecPath
from compiler.loader import Document
from compiler.project import Project


@dataclass
class Spec:
    """A structurally valid spec document."""

    doc: Document
    kind: str

    @property
    def name(self) -> str:
        return self.doc.data["metadata"]["name"]

    @property
    def body(self) -> dict[str, Any]:
        return self.doc.data["spec"]

    def finding(
        self,
        path: SpecPath,
        code: str,
        message: str,
        suggestion: str | None = None,
        *,
        key: bool = False,
        severity: Severity = Severity.ERROR,
    ) -> Finding:
        line, col = self.doc.marks.locate(path, key=key)
        return Finding(
            self.doc.file, line, col, code, message, format_path(path), suggestion, severity
        )

    def where(self, path: SpecPath) -> str:
        """`file:line:col` of a path, for messages that point at a second place."""
        return "{}:{}:{}".format(*self.place(path))

    def place(self, path: SpecPath) -> tuple[str, int, int]:
        """(file, line, col) of a path, for a finding's `related` places."""
        return (self.doc.file, *self.doc.marks.locate(path))


@dataclass(frozen=True)
class Artifact:
    """One path read or written by one task, and where the spec says so."""

    path: str
    task: str
    spec: Spec
    at: tuple

    def where(self) -> str:
        return self.spec.where(self.at)

    def finding(
        self,
        code: str,
        message: str,
        suggestion: str | None = None,
        severity: Severity = Severity.ERROR,
    ) -> Finding:
        return self.spec.finding(self.at, code, message, suggestion, severity=severity)


@dataclass
class Target:
    """One DAG file to write: its template, the values it needs, and the specs it came from.

    `order` ranks the DAG's tasks so that a lower rank always runs first; `produces` and
    `consumes` are the artifacts its tasks declare (see compiler.artifacts).
    """

    name: str
    template: str
    model: dict[str, Any]
    sources: list[Spec]
    order: dict[str, int] = field(default_factory=dict)
    produces: list[Artifact] = field(default_factory=list)
    consumes: list[Artifact] = field(default_factory=list)
    assets_in: dict[str, Any] = field(default_factory=dict)
    outlets: dict[str, set[str]] = field(default_factory=dict)
    needs: dict[str, set[str]] = field(default_factory=dict)  # producer DAG → paths read from it
    tasks: dict[str, str | None] = field(default_factory=dict)  # task id → group (for pictures)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def upstream(self, first: str, then: str) -> bool:
        """Whether task `first` always finishes before task `then` starts."""
        return self.order.get(first, 1 << 30) < self.order.get(then, -1)


@dataclass
class Analysis:
    """Everything known about a project after loading and checking it."""

    project: Project
    specs: dict[str, Spec] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)  # names of specs that failed to validate
    texts: dict[str, str] = field(default_factory=dict)  # file → source, for inline ignores
    cache: Any = None  # the compiler.cache.Cache this analysis used, if any
    #: findings of the checks across specs (artifact wiring): any spec's edit may cause them
    across: set[Finding] = field(default_factory=set)

    def add(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)
