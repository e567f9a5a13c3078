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

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from dagspec_runtime.entity import schema
from dagspec_runtime.entity.files import write_json
from dagspec_runtime.entity.run_identity import (
    StderrLog,
    module_manifest,
    run_ids,
    with_context,
)
from dagspec_runtime.entity.status import ERROR, SUCCEEDED
from dagspec_runtime.entity.workspace import run_params, workspace_from_context

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


class ModuleOperator(BaseOperator):
    """Run one entity module in manifest mode; fail the task when the module failed.

    :param entity: entity id (written to the manifest, checked in the envelope).
    :param phase: phase folder the module writes into.
    :param module: module name (default: the task id); names the manifest and result files.
    :param command: argv before ``--manifest FILE --json``; ``python`` means the worker's Python.
    :param required: informational here; the phase gate decides with it.
    :param inputs: named input paths relative to the workspace.
    :param project_root: working directory of the module.
    :param env: extra environment variables for the module (it also gets ``DAGSPEC_MODULE`` and
        ``DAGSPEC_PHASE``, so one script can serve under several names).
    :param timeout_seconds: the module is killed after this long.
    """

    ui_color = "#fff4e0"

    def __init__(
        self,
        *,
        entity: str,
        phase: str,
        command: Sequence[str],
        project_root: str,
        module: str | None = None,
        required: bool = True,
        inputs: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout_seconds: float = 1800,
        **kwargs: Any,
    ) -> None:
        module = module or kwargs["task_id"]  # the module's name is its task id by default
        super().__init__(**kwargs)
        if not command:
            raise ValueError(f"module {module!r}: command must not be empty")
        self.entity = entity
        self.phase = phase
        self.module = module
        self.command = list(command)
        self.required = required
        self.inputs = dict(inputs or {})
        self.project_root = project_root
        self.env = dict(env or {})
        self.timeout_seconds = timeout_seconds
        self._proc: subprocess.Popen[str] | None = None

    def execute(self, context: Any) -> dict[str, Any]:
        workspace = workspace_from_context(context)
        if workspace is None:
            raise AirflowException(f"module {self.module!r}: no workspace (prepare_workspace)")
        target, dry_run, _ = run_params(context)
        run_id, airflow_run_id = run_ids(workspace)
        manifest = module_manifest(entity=self.entity, workspace=workspace, target=target,
                                   run_id=run_id, dry_run=dry_run, inputs=self.inputs,
                                   output_dir=self.phase)
        schema.check("manifest", manifest, f"manifest of module {self.module!r}")
        manifest_file = write_json(manifest_path(workspace, self.phase, self.module), manifest)
        argv = resolve_command(self.command) + ["--manifest", str(manifest_file), "--json"]
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DAGSPEC_MODULE": self.module,
            "DAGSPEC_PHASE": self.phase,
            **self.env,
        }
        self.log.info("Running module %s: %s (cwd %s)", self.module, argv, self.project_root)
        with stderr_path(workspace, self.phase, self.module).open("w", encoding="utf-8") as keep, \
                StderrLog(workspace, self.module) as shared:

            def on_stderr(line: str) -> None:
                self.log.info("[%s] %s", self.module, line)
                keep.write(line + "\n")
                shared.write(line)

            run = run_process(
                argv,
                cwd=self.project_root,
                env=env,
                timeout=self.timeout_seconds,
                on_stderr=on_stderr,
                on_start=self._remember,
            )
        self._proc = None
        envelope, failure = judge(self.module, self.entity, run, self.timeout_seconds)
        envelope = with_context(envelope, run_id=run_id, airflow_run_id=airflow_run_id,
                                phase=self.phase, workspace=workspace)
        write_json(result_path(workspace, self.phase, self.module), envelope)
        context["ti"].xcom_push(key="result", value=envelope)
        if failure:
            raise AirflowException(failure)
        status = envelope["status"]
        self.log.info(
            "Module %s finished: %s in %d ms", self.module, status, envelope["duration_ms"]
        )
        if status not in SUCCEEDED:
            errors = "; ".join(
                e if isinstance(e, str) else e.get("message", "") for e in envelope["errors"]
            )
            detail = f": {errors}" if errors else ""
            raise AirflowException(f"module {self.module!r} reported status {status!r}{detail}")
        return envelope

    def _remember(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc

    def on_kill(self) -> None:
        """Kill the module's process group when Airflow kills the task."""
        if self._proc is not None and self._proc.poll() is None:
            kill_group(self._proc)
