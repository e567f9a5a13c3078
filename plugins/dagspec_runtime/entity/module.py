"""ModuleOperator: run one module in manifest mode and keep its result envelope.

The contract with a module: it is called as ``command + ["--manifest", FILE, "--json"]`` with the
project root as working directory, prints exactly one result envelope (JSON) on stdout and any
diagnostics on stderr. Whatever goes wrong (bad exit, timeout, malformed envelope) the operator
still writes ``<workspace>/<phase>/<module>.result.json`` with status ``error``, so the phase gate
always has something to read. stdout and stderr are written straight to
``<workspace>/<phase>/<module>.stdout.log`` / ``.stderr.log`` (bounded memory, whatever the
module prints); the first lines of stderr also go to the task log as they arrive.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dagspec_runtime import ownership
from dagspec_runtime.entity import schema
from dagspec_runtime.entity.files import write_json
from dagspec_runtime.entity.run_identity import (
    STDERR_LOG,
    STDERR_PARTS,
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


def stdout_path(workspace: Path, phase: str, module: str) -> Path:
    """The module's stdout (its envelope, and whatever else it printed)."""
    return workspace / phase / f"{module}.stdout.log"


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
    stdout_file: Path | None = None,
    stderr_file: Path | None = None,
) -> ModuleRun:
    """Run ``argv`` with stdout and stderr written straight to files; hand the first
    ``LOGGED_LINES`` stderr lines to ``on_stderr`` as they arrive.

    The process is owned by the run (``ownership.owned_child``: its own session, killed with
    the thread that started it, recorded in the run's ledger). Its output is judged when *it*
    exits, not when its pipes close: whatever it left running in its process group is killed
    then, so a child holding stdout open neither hides the envelope nor outlives the module.
    Memory and time stay bounded whatever the module prints (the files hold it all).
    """
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if stdout_file is None or stderr_file is None:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dagspec-mod-")))
            stdout_file = stdout_file or scratch / "stdout"
            stderr_file = stderr_file or scratch / "stderr"
        with stdout_file.open("wb") as out, stderr_file.open("wb") as err:
            parent = os.getpid()
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                text=True,
                preexec_fn=lambda: ownership.owned_child(parent),
            )
        ownership.record_group(proc.pid)
        try:
            if on_start:
                on_start(proc)
            follower = _StderrFollower(stderr_file, on_stderr)
            timed_out = False
            try:
                follower.follow_until(proc, timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                kill_group(proc)
            ownership.kill_group(proc.pid)  # what the module left running dies with it
            follower.drain()
            return ModuleRun(
                exit_code=proc.returncode,
                stdout=read_envelope_text(stdout_file),
                stderr_tail=tail_lines(stderr_file, 20),
                duration_ms=int((time.monotonic() - started) * 1000),
                timed_out=timed_out,
            )
        finally:
            if proc.poll() is None:
                kill_group(proc)
            ownership.kill_group(proc.pid)
            ownership.forget_group(proc.pid)


LOGGED_LINES = 1000  # stderr lines also copied to the task log (all are in the file)
ENVELOPE_BYTES = 4 << 20  # more stdout than this: the envelope is its last line
_FOLLOW_S = 0.2


class _StderrFollower:
    """Reads a growing stderr file and hands its first ``LOGGED_LINES`` lines on."""

    def __init__(self, path: Path, on_line: Callable[[str], None]) -> None:
        self.path = path
        self.on_line = on_line
        self.handle = path.open("rb")
        self.partial = b""
        self.lines = 0

    def poll(self, final: bool = False) -> None:
        if self.lines > LOGGED_LINES:
            return
        chunk = self.handle.read(1 << 16)
        while chunk:
            self.partial += chunk
            *complete, self.partial = self.partial.split(b"\n")
            for raw in complete:
                self._emit(raw)
                if self.lines > LOGGED_LINES:
                    return
            chunk = self.handle.read(1 << 16)
        if final and self.partial:
            self._emit(self.partial)
            self.partial = b""

    def _emit(self, raw: bytes) -> None:
        self.lines += 1
        if self.lines <= LOGGED_LINES:
            self.on_line(raw.decode("utf-8", "replace").rstrip("\r"))
        else:
            self.on_line(
                f"... more stderr in {self.path} (only the first {LOGGED_LINES} lines are logged)"
            )

    def follow_until(self, proc: subprocess.Popen[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            try:
                proc.wait(timeout=min(_FOLLOW_S, left))
                return
            except subprocess.TimeoutExpired:
                continue

    def drain(self) -> None:
        self.poll(final=True)
        self.handle.close()


def read_envelope_text(path: Path) -> str:
    """What the module printed on stdout, or its end when that is large (bounded memory)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size > ENVELOPE_BYTES:
            handle.seek(size - ENVELOPE_BYTES)
            data = handle.read().split(b"\n", 1)[-1]
        else:
            data = handle.read()
    return data.decode("utf-8", "replace")


def tail_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of a text file (read from its end)."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        lines = handle.read().decode("utf-8", "replace").splitlines()
    return [line.rstrip("\r") for line in lines[-count:]]


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


@dataclass
class Confinement:
    """The folders a module must not change: the workspace outside its phase's output folder
    (earlier phases' outputs, the run's own files) and the entity's ``models/ENTITY/``
    in the project (what promotion writes)."""

    roots: list[tuple[Path, str]]  # (folder, how a changed file is named: prefix)
    allowed: tuple[Path, ...]

    def snapshot(self) -> dict[str, tuple[int, int, int]]:
        seen: dict[str, tuple[int, int, int]] = {}
        for root, label in self.roots:
            for folder, dirs, files in os.walk(root):
                here = Path(folder)
                dirs[:] = [d for d in dirs if here / d not in self.allowed]
                for name in files:
                    path = here / name
                    if path in self.allowed:
                        continue
                    try:
                        info = path.stat()
                    except OSError:
                        continue
                    key = f"{label}{path.relative_to(root).as_posix()}"
                    seen[key] = (info.st_mtime_ns, info.st_size, info.st_ino)
        return seen

    def changed(self, before: Mapping[str, tuple[int, int, int]]) -> list[str]:
        """Files created, rewritten or removed since ``before``."""
        after = self.snapshot()
        return sorted(
            {k for k, v in after.items() if before.get(k) != v} | (set(before) - set(after))
        )


def confinement(workspace: Path, phase: str, project_root: str, entity: str) -> Confinement:
    """What a module of ``phase`` may not touch (see ``Confinement``)."""
    models = Path(project_root) / "models" / entity
    return Confinement(
        roots=[(workspace, "workspace/"), (models, f"models/{entity}/")],
        allowed=(
            workspace / phase,
            workspace / STDERR_LOG,  # the runner appends every module's stderr there
            workspace / STDERR_PARTS,
        ),
    )


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
    watched = confinement(workspace, phase, project_root, entity)
    before = watched.snapshot()
    with StderrLog(
        workspace, module, stderr_part(workspace, phase, module) if stderr_in_part else None
    ) as shared:

        def on_stderr(line: str) -> None:
            log.info("[%s] %s", module, line)
            shared.write(line)

        run = run_process(
            argv,
            cwd=project_root,
            env=full_env,
            timeout=timeout_seconds,
            on_stderr=on_stderr,
            on_start=on_start,
            stdout_file=stdout_path(workspace, phase, module),
            stderr_file=stderr_path(workspace, phase, module),
        )
    envelope, failure = judge(module, entity, run, timeout_seconds)
    stray = watched.changed(before)
    if stray and not run.timed_out:
        failure = (
            f"module {module!r} wrote outside its phase's output folder {phase}/: "
            + ", ".join(stray[:5])
            + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
            + f" (a module writes only under {phase}/ of the workspace; promotion copies "
            "results into the project)"
        )
        envelope = error_envelope(module, entity, run.duration_ms, failure)
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
