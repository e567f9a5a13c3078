"""Shared plumbing for the example modules: manifest in, one result envelope out.

Every module is called as ``python examples/modules/<name>.py --manifest FILE --json`` with the
project root as working directory. It prints exactly one JSON envelope on stdout; everything
else goes to stderr. ``DAGSPEC_EXAMPLE_FAIL=<module>,<module>`` makes the named modules report
status ``error`` (for tests and demos, no file edits needed); a module matches by its own name
or by the name the DAG gives it (``$DAGSPEC_MODULE``, set by ModuleOperator).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VERSION = "0.1.0"
FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "timestamp")


class ModuleError(Exception):
    """The module cannot do its job; reported as status error."""


def log(message: str) -> None:
    """Diagnostics go to stderr (the orchestrator streams them into the task log)."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class Run:
    """One module invocation: manifest values plus the outputs recorded so far."""

    name: str
    manifest: dict[str, Any]
    args: argparse.Namespace
    outputs: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def entity(self) -> str:
        return self.manifest["entity_id"]

    @property
    def workspace(self) -> Path:
        return Path(self.manifest["workspace"])

    @property
    def dry_run(self) -> bool:
        return bool(self.manifest.get("dry_run", False))

    @property
    def target(self) -> str:
        return self.manifest["target"]

    @property
    def output_dir(self) -> str:
        return self.manifest["output_dir"]

    def input_path(self, name: str) -> Path:
        """A named input from the manifest, which must exist in the workspace."""
        relative = self.manifest.get("inputs", {}).get(name)
        if not relative:
            raise ModuleError(f"manifest has no input {name!r}")
        path = self.workspace / relative
        if not path.is_file():
            raise ModuleError(f"input {name!r} ({relative}) does not exist in the workspace")
        return path

    def read_json_input(self, name: str) -> Any:
        return json.loads(self.input_path(name).read_text(encoding="utf-8"))

    def write(self, relative: str, text: str) -> Path:
        """Write an output inside the workspace's phase folder and record what happened."""
        path = self.workspace / self.output_dir / relative
        key = f"{self.output_dir}/{relative}"
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            self.outputs[key] = "unchanged"
            return path
        self.outputs[key] = "updated" if path.exists() else "wrote"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def write_json(self, relative: str, document: Any) -> Path:
        return self.write(relative, json.dumps(document, indent=2, sort_keys=True) + "\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_name(entity: str) -> str:
    """Entity ids use hyphens; SQL identifiers use underscores."""
    return entity.replace("-", "_").lower()


def _injected(name: str) -> bool:
    """Named in DAGSPEC_EXAMPLE_FAIL, by its own name or the DAG's name for it (DAGSPEC_MODULE)."""
    wanted = os.environ.get("DAGSPEC_EXAMPLE_FAIL", "")
    names = {part.strip() for part in wanted.split(",") if part.strip()}
    return bool(names & {name, os.environ.get("DAGSPEC_MODULE", name)})


def main(
    name: str,
    work: Callable[[Run], str | None],
    extra_args: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Parse ``--manifest FILE --json``, run ``work``, print the envelope, return the exit code.

    ``work`` returns None for ok or a status string (warning/partial); it raises ModuleError
    for error.
    """
    parser = argparse.ArgumentParser(prog=name)
    parser.add_argument("--manifest", required=True, type=Path)
    parser.add_argument("--json", action="store_true", help="print the result envelope")
    if extra_args:
        extra_args(parser)
    args = parser.parse_args()
    started = time.monotonic()
    manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    run = Run(name=name, manifest=manifest, args=args)
    log(f"{name}: entity {run.entity}, target {run.target}, dry_run {run.dry_run}")
    status = "ok"
    try:
        if _injected(name):
            raise ModuleError("failure injected through DAGSPEC_EXAMPLE_FAIL")
        status = work(run) or "ok"
    except ModuleError as exc:
        run.errors.append(str(exc))
        status = "error"
        log(f"{name}: error: {exc}")
    envelope = {
        "module": name,
        "version": VERSION,
        "status": status,
        "entity_id": run.entity,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_ms": int((time.monotonic() - started) * 1000),
        "outputs": run.outputs,
        "errors": run.errors,
    }
    if args.json:
        print(json.dumps(envelope))
    else:
        log(f"{name}: {status}")
    return 0 if status in ("ok", "warning") else 1
