"""Finding and loading the project: its root and its config (`dagspec.yaml`).

The `Project` itself is one of the shared types (compiler.model).
"""

from __future__ import annotations

from pathlib import Path

from compiler import cache
from compiler.loader import load_file
from compiler.model import Project
from compiler.schemas import apply_defaults
from compiler.validate import kind_of, validate

__all__ = ["CONFIG_NAME", "Project", "find_root", "load_project"]

CONFIG_NAME = "dagspec.yaml"


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` that holds `dagspec.yaml`; else `start` itself."""
    start = start.resolve()
    here = start if start.is_dir() else start.parent
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return here


def load_project(root: Path, *, use_cache: bool = True) -> Project:
    """Load and validate the project config; a missing file means all defaults.

    With the cache (compiler.cache, unless `use_cache=False` or `DAGSPEC_CACHE=0`) a clean
    config whose bytes it knows is neither parsed nor checked again: a large entity list makes
    that cost as much as a few hundred specs."""
    root = root.resolve()
    if not (use_cache and cache.enabled()):
        return _load(root)
    try:
        raw = (root / CONFIG_NAME).read_bytes()
    except OSError:
        return _load(root)
    config = cache.known_config(root, raw)
    if config is not None:
        return Project(root, config, cache.LazyDocument(CONFIG_NAME, raw), [])
    project = _load(root)
    if not project.findings and project.doc is not None and project.doc.raw == raw:
        cache.remember_config(root, raw, project.config)
    return project


def _load(root: Path) -> Project:
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
