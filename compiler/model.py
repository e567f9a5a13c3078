"""The data every stage shares: a checked spec, the DAG files it plans, the artifacts they
declare, and the analysis that holds them all.

This module depends only on loading, findings and the DAG model, so the stages read one way:
loader → validate → analysis → kinds / artifacts → output, each importing the types from here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from compiler.dag import Dag, Wiring
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
        return str(self.doc.data["metadata"]["name"])

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.doc.data["spec"]
        return body

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
    at: SpecPath

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


@dataclass(eq=False)
class Target:
    """One DAG file to write: its template, its model, and the specs it came from.

    The model (`dag`, compiler.dag) is made by the kind, or read from the cache only when it is
    needed. `order` ranks the DAG's tasks so that a lower rank always runs first; `produces`
    and `consumes` are the artifacts its tasks declare, and `assets_in`, `outlets`, `needs` and
    `wiring` what compiler.artifacts found across specs. `tasks` (task id → group) and
    `schedule` are known without the model.
    """

    name: str
    template: str
    sources: list[Spec]
    load: Callable[[], Dag]
    schedule: str | None
    tasks: dict[str, str | None]
    order: dict[str, int] = field(default_factory=dict)
    produces: list[Artifact] = field(default_factory=list)
    consumes: list[Artifact] = field(default_factory=list)
    assets_in: dict[str, Any] = field(default_factory=dict)
    outlets: dict[str, set[str]] = field(default_factory=dict)
    needs: dict[str, set[str]] = field(default_factory=dict)  # producer DAG → paths read from it
    wiring: Wiring = field(default_factory=Wiring)
    project_root: str = "."  # the way from the output folder back to the project
    cache_key: str | None = None  # the cache's plan entry, when there is one
    #: output fingerprints the cache recorded for this plan, by `links()`
    recorded: dict[str, str] = field(default_factory=dict)
    _dag: Dag | None = field(default=None, repr=False)

    @classmethod
    def of(cls, dag: Dag, template: str, sources: list[Spec]) -> Target:
        """The target of a model a kind just made."""
        return cls(
            dag.dag_id,
            template,
            sources,
            lambda: dag,
            dag.arguments.schedule,
            {t.task_id: t.group for t in dag.tasks},
            _dag=dag,
        )

    @property
    def dag(self) -> Dag:
        if self._dag is None:
            self._dag = self.load()
        return self._dag

    @property
    def kind(self) -> str:
        return self.sources[0].kind

    def upstream(self, first: str, then: str) -> bool:
        """Whether task `first` always finishes before task `then` starts."""
        return self.order.get(first, 1 << 30) < self.order.get(then, -1)

    def links(self) -> str:
        """What the stages after planning add to the DAG file (its links across specs and the
        way back to the project), as a key."""
        return json.dumps(
            [
                self.name,
                sorted(self.assets_in),
                sorted((task, sorted(paths)) for task, paths in self.outlets.items()),
                self.project_root,
            ]
        )

    def known_fingerprint(self) -> str | None:
        """The output fingerprint the cache recorded for this plan with these links, if any."""
        return self.recorded.get(self.links()) if self.recorded else None


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
