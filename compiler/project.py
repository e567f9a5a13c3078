"""The project: its root, its config (`dagspec.yaml`) and the spec files it holds."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.findings import Finding
from compiler.loader import Document, load_file
from compiler.schemas import apply_defaults
from compiler.validate import kind_of, validate

CONFIG_NAME = "dagspec.yaml"


@dataclass
class Project:
    root: Path
    config: dict[str, Any]
    doc: Document | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def specs_dir(self) -> Path:
        return self.root / self.config["specs_dir"]

    @property
    def output_dir(self) -> Path:
        return self.root / self.config["output_dir"]

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


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` that holds `dagspec.yaml`; else `start` itself."""
    start = start.resolve()
    here = start if start.is_dir() else start.parent
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return here


def load_project(root: Path) -> Project:
    """Load and validate the project config; a missing file means all defaults."""
    root = root.resolve()
    path = root / CONFIG_NAME
    defaults = apply_defaults("Project", {"spec": {}})["spec"]
    if not path.is_file():
        return Project(root, defaults)
    doc, findings = load_file(path, CONFIG_NAME)
    if doc is None:
        return Project(root, defaults, None, findings)
    kind, kind_findings = kind_of(doc, ["Project"])
    findings += kind_findings
    if kind is None:
        return Project(root, defaults, doc, findings)
    schema_findings = validate(doc, "Project")
    findings += schema_findings
    if schema_findings:
        return Project(root, defaults, doc, findings)
    return Project(root, apply_defaults("Project", doc.data)["spec"], doc, findings)
