"""The data every stage shares: a checked spec, the DAG files it plans, the artifacts they
declare, and the analysis that holds them all.

This module depends only on loading, findings and the DAG model, so the stages read one way:
loader → validate → analysis → kinds / artifacts → output, each importing the types from here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from compiler.dag import Dag, Wiring
from compiler.findings import Finding, Severity, format_path
from compiler.findings import Path as SpecPath
from compiler.loader import Document


@dataclass
class Project:
    """The project: its root, its config (`dagspec.yaml`) and the spec files it holds
    (compiler.project loads it)."""

    root: Path
    config: dict[str, Any]
    doc: Document | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def specs_dir(self) -> Path:
        return self.root / str(self.config["specs_dir"])

    @property
    def output_dir(self) -> Path:
        return self.root / str(self.config["output_dir"])

    def display(self, path: Path) -> str:
        """The path as people see it in findings: relative to the project root when inside."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def spec_files(self) -> list[Path]:
        """Every spec file, resolved. Only symlinks need resolving: the walk starts from the
        resolved folder and does not follow linked folders."""
        found: list[Path] = []
        pending = [str(self.specs_dir.resolve())]
        while pending:  # like rglob, from the entry types the listing gives: no stat per file
            try:
                listing = os.scandir(pending.pop())
            except OSError:
                continue
            with listing as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.name.endswith((".yaml", ".yml")) and entry.is_file():
                        path = Path(entry.path)
                        found.append(path.resolve() if entry.is_symlink() else path)
        return sorted(found, key=lambda p: p.parts)  # the order of Path, several times faster


#: whether a spec extends another, and the value of its `extends` when it does
Extends = tuple[bool, Any]


@dataclass
class Spec:
    """A structurally valid spec document, with what the project-wide checks and the cache
    need to know of it without reading its body: its name, its `extends` and the SHA-256 of
    its bytes (`Spec.of` reads them from the document; the cache knows them from its entry)."""

    doc: Document
    kind: str
    name: str
    extends: Extends
    digest: str

    @classmethod
    def of(cls, doc: Document, kind: str) -> Spec:
        """The spec of a loaded and checked document."""
        body = doc.data["spec"]
        extends = (
            (True, body["extends"]) if kind == "Entity" and "extends" in body else (False, None)
        )
        name = str(doc.data["metadata"]["name"])
        return cls(doc, kind, name, extends, hashlib.sha256(doc.raw).hexdigest())

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


class CompileCache(Protocol):
    """What a compile asks of the cache its analysis used (compiler.cache.Cache, which imports
    this module, so it is named here by what it does)."""

    def existing(self, path: Path) -> str | None: ...

    def remember_fingerprints(
        self, targets: list[Target], fingerprints: dict[str, str]
    ) -> None: ...

    def written(
        self, out: Path, fingerprints: dict[str, str], names: Iterable[str] | None = None
    ) -> None: ...

    def save(self) -> None: ...


@dataclass
class Analysis:
    """Everything known about a project after loading and checking it."""

    project: Project
    specs: dict[str, Spec] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)  # names of specs that failed to validate
    texts: dict[str, str] = field(default_factory=dict)  # file → source, for inline ignores
    cache: CompileCache | None = None  # the cache this analysis used (compiler.cache.Cache)
    #: findings of the checks across specs (artifact wiring): any spec's edit may cause them
    across: set[Finding] = field(default_factory=set)

    def add(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)
