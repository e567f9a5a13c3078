"""ModuleOperator: run one module in manifest mode and keep its result envelope.

The contract with a module: it is called as ``command + ["--manifest", FILE, "--json"]`` with the
project root as working directory, prints exactly one result envelope (JSON) on stdout and any
diagnostics on stderr. Whatever goes wrong (bad exit, timeout, malformed envelope) the operator
still writes ``<workspace>/<phase>/<module>.result.json`` with status ``error``, so the phase gate
always has something to read. stderr goes to the task log line by line and to
``<workspace>/<phase>/<module>.stderr.log``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagspec_runtime.entity import schema
from dagspec_runtime.entity.files import write_json
from dagspec_runtime.entity.run_identity import (
    StderrLog,
    module_manifest,
    run_ids,
    stderr_part,
    with_context,
)
from dagspec_runtime.entity.status import ERROR, SUCCEEDED
from dagspec_runtime.entity.workspace import open_workspace, run_params
from dagspec_runtime.errors import StepFailed

_PYTHONS = frozenset({"python", "python3"})
_KILL_GRACE_SECONDS = 5.0


def result_path(workspace: Path, phase: str, module: str) -> Path:
    """Where a module's (validated or synthesized) result envelope lives."""
    return workspace / phase / f"{module}.result.json"


def manifest_path(workspace: Path, phase: str, module: str) -> Path:
    """Where the manifest handed to a module lives."""
    return workspace / phase / f"{module}.manifest.json"


def stderr_path(workspace: Path, phase: str, module: str) -> Path:
    """The module's stderr, kept in the workspace for debugging with ``keep_workspace``."""
    return workspace / phase / f"{module}.stderr.log"


def resolve_command(command: Sequence[str]) -> list[str]:
    """Run ``python``/``python3`` modules with the worker's own interpreter.

    Debian ships no ``python`` on PATH and a worker's PATH rarely points into its venv, so a
    spec saying ``python script.py`` means "the Python running Airflow".
    """
    parts = [str(part) for part in command]
    if parts and parts[0] in _PYTHONS:
        parts[0] = sys.executable
    return parts


@dataclass
class ModuleRun:
    """What a finished (or killed) module process left behind."""

    exit_code: int | None
    stdout: str
    stderr_tail: list[str]
    duration_ms: int
    timed_out: bool


def run_process(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    timeout: float,
    on_stderr: Callable[[str], None],
    on_start: Callable[[subprocess.Popen[str]], None] | None = None,
) -> ModuleRun:
    """Run ``argv``, capture stdout, hand each stderr line to ``on_stderr`` as it arrives.

    The process gets its own session so a timeout kills it and everything it started.
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    if on_start:
        on_start(proc)
    out_chunks: list[str] = []
    tail: deque[str] = deque(maxlen=20)

    def read_stdout() -> None:
        assert proc.stdout is not None
        out_chunks.append(proc.stdout.read())

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip("\n")
            tail.append(line)
            on_stderr(line)

    readers = [threading.Thread(target=fn, daemon=True) for fn in (read_stdout, read_stderr)]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
    for reader in readers:
        reader.join(timeout=_KILL_GRACE_SECONDS)
    return ModuleRun(
        exit_code=proc.returncode,
        stdout="".join(out_chunks),
        stderr_tail=list(tail),
        duration_ms=int((time.monotonic() - started) * 1000),
        timed_out=timed_out,
    )


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the module's process group, SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, _KILL_GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def parse_envelope(stdout: str) -> dict[str, Any]:
    """The envelope printed on stdout, schema-checked; ``ValueError`` says what is wrong.

    Tolerates chatter before the envelope by falling back to the last non-empty line.
    """
    text = stdout.strip()
    if not text:
        raise ValueError("nothing was printed on stdout")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        try:
            document = json.loads(text.splitlines()[-1])
        except json.JSONDecodeError:
            snippet = text if len(text) <= 200 else text[:200] + "..."
            raise ValueError(f"stdout is not JSON: {snippet!r}") from None
    if not isinstance(document, dict):
        raise ValueError(f"expected a JSON object, got {type(document).__name__}")
    schema.check("module-result", document, "result envelope")
    return document


def error_envelope(module: str, entity: str, duration_ms: int, message: str) -> dict[str, Any]:
    """The result recorded for a module that could not report one itself."""
    return {
        "module": module,
        "version": "unknown",
        "status": ERROR,
        "entity_id": entity,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_ms": max(0, duration_ms),
        "outputs": {},
        "errors": [message],
    }


def judge(module: str, entity: str, run: ModuleRun, timeout: float) -> tuple[dict[str, Any], str]:
    """Turn a finished process into (envelope, failure message or '')."""
    tail = ("; last stderr: " + " | ".join(run.stderr_tail[-5:])) if run.stderr_tail else ""
    if run.timed_out:
        message = f"module {module!r} timed out after {timeout:g} s and was killed{tail}"
        return error_envelope(module, entity, run.duration_ms, message), message
    try:
        envelope = parse_envelope(run.stdout)
    except ValueError as exc:
        if run.exit_code:
            message = f"module {module!r} exited with code {run.exit_code}: {exc}{tail}"
        else:
            message = f"module {module!r} printed a malformed result envelope: {exc}"
        return error_envelope(module, entity, run.duration_ms, message), message
    if envelope["entity_id"] != entity:
        message = (
            f"module {module!r} reported entity {envelope['entity_id']!r}, expected {entity!r}"
        )
        return error_envelope(module, entity, run.duration_ms, message), message
    if run.exit_code and envelope["status"] in SUCCEEDED:
        message = (
            f"module {module!r} exited with code {run.exit_code} "
            f"but reported status {envelope['status']!r}{tail}"
        )
        return error_envelope(module, entity, run.duration_ms, message), message
    return envelope, ""


def _run_module(
    *,
    workspace: Path | None,
    run_id: str,
    params: Mapping[str, Any],
    entity: str,
    phase: str,
    module: str,
    command: Sequence[str],
    project_root: str,
    inputs: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout_seconds: float = 1800,
    log: logging.Logger,
    on_start: Callable[[subprocess.Popen[str]], None] | None = None,
    stderr_in_part: bool = False,
) -> dict[str, Any]:
    """Write the manifest, run the module, keep its envelope; the envelope, or ``StepFailed``
    (carrying the envelope) when the module failed. ``stderr_in_part``: the workspace is a copy
    of an object store's, so the shared stderr lines go to this module's own part."""
    if workspace is None:
        raise StepFailed(f"module {module!r}: no workspace (prepare_workspace)")
    target, dry_run, _ = run_params({"params": params})
    run_id, airflow_run_id = run_ids(workspace)
    manifest = module_manifest(
        entity=entity,
        workspace=workspace,
        target=target,
        run_id=run_id,
        dry_run=dry_run,
        inputs=dict(inputs or {}),
        output_dir=phase,
    )
    schema.check("manifest", manifest, f"manifest of module {module!r}")
    manifest_file = write_json(manifest_path(workspace, phase, module), manifest)
    argv = resolve_command(command) + ["--manifest", str(manifest_file), "--json"]
    full_env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DAGSPEC_MODULE": module,
        "DAGSPEC_PHASE": phase,
        **dict(env or {}),
    }
    log.info("Running module %s: %s (cwd %s)", module, argv, project_root)
    with (
        stderr_path(workspace, phase, module).open("w", encoding="utf-8") as keep,
        StderrLog(
            workspace, module, stderr_part(workspace, phase, module) if stderr_in_part else None
        ) as shared,
    ):

        def on_stderr(line: str) -> None:
            log.info("[%s] %s", module, line)
            keep.write(line + "\n")
            shared.write(line)

        run = run_process(
            argv,
            cwd=project_root,
            env=full_env,
            timeout=timeout_seconds,
            on_stderr=on_stderr,
            on_start=on_start,
        )
    envelope, failure = judge(module, entity, run, timeout_seconds)
    envelope = with_context(
        envelope, run_id=run_id, airflow_run_id=airflow_run_id, phase=phase, workspace=workspace
    )
    write_json(result_path(workspace, phase, module), envelope)
    if failure:
        raise StepFailed(failure, envelope)
    status = envelope["status"]
    log.info("Module %s finished: %s in %d ms", module, status, envelope["duration_ms"])
    if status not in SUCCEEDED:
        errors = "; ".join(
            e if isinstance(e, str) else e.get("message", "") for e in envelope["errors"]
        )
        detail = f": {errors}" if errors else ""
        raise StepFailed(f"module {module!r} reported status {status!r}{detail}", envelope)
    return envelope


def run_module(*, workspace: str | os.PathLike[str] | None, **kwargs: Any) -> dict[str, Any]:
    """Run one module in the run's workspace (see ``_run_module``).

    ``workspace`` is the location ``prepare_workspace`` returned (None: it never ran); the step
    works on its local view (see ``workspace.open_workspace``), so both run paths and every
    declared storage behave alike."""
    with open_workspace(workspace) as handle:
        return _run_module(
            workspace=handle.path if handle else None,
            stderr_in_part=bool(handle and handle.remote),
            **kwargs,
        )
