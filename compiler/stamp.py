"""A build stamp that lets an unchanged project skip analysis entirely.

The stamp hashes everything a compile reads — the compiler's own sources, schemas and templates,
the project config, every spec file — and the state (size, mtime) of every file in the output
folder. Equal stamp, nothing to do: a no-op compile of 1,000 specs then costs a few dozen
milliseconds instead of loading and validating every spec.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from compiler.findings import Finding, Severity
from compiler.project import CONFIG_NAME, Project
from compiler.resources import resource_dir

PACKAGE = Path(__file__).resolve().parent
CACHE = Path(".dagspec") / "build-stamp"


@cache
def tool_digest() -> str:
    """Everything of the compiler itself that output depends on, hashed."""
    digest = hashlib.sha256()
    folders = [PACKAGE, PACKAGE / "kinds", resource_dir("schemas"), resource_dir("templates")]
    for folder in folders:
        for path in sorted(folder.glob("*")):
            if path.is_file() and path.suffix in (".py", ".json", ".j2"):
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def stamp(project: Project, out: Path) -> str:
    digest = hashlib.sha256(tool_digest().encode())
    config = project.root / CONFIG_NAME
    digest.update(config.read_bytes() if config.is_file() else b"-")
    digest.update(str(out).encode())
    for path in project.spec_files():
        digest.update(b"\0" + str(path).encode() + b"\0" + path.read_bytes())
    if out.is_dir():
        for path in sorted(out.glob("*.py")):
            info = path.stat()
            digest.update(f"\0{path.name}:{info.st_size}:{info.st_mtime_ns}".encode())
    return digest.hexdigest()


def unchanged(project: Project, out: Path) -> list[Finding] | None:
    """The findings (warnings) of the last compile when nothing changed since; else None."""
    try:
        digest, _, rest = (project.root / CACHE).read_text(encoding="utf-8").partition("\n")
        if digest != stamp(project, out):
            return None
        return [
            Finding(**{**item, "severity": Severity(item["severity"])})
            for item in json.loads(rest or "[]")
        ]
    except (OSError, ValueError, TypeError, KeyError):
        return None


def record(project: Project, out: Path, findings: Iterable[Finding] = ()) -> None:
    """Remember this compile (atomically: concurrent compiles never see half a stamp)."""
    path = project.root / CACHE
    rows = [{k: v for k, v in f.as_dict().items() if k != "rule"} for f in findings]
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(stamp(project, out) + "\n" + json.dumps(rows) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only project just compiles fully next time
