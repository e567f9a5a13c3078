"""One gate of one manifest process as a task step: resolve the databases, run the gate.

What ManifestGateOperator.execute does, without Airflow, so the fast local runner and the
operator run a gate the same way. ``lookup`` finds a connection's URL (the operator asks
Airflow; the local runner reads ``AIRFLOW_CONN_<ID>`` from the environment). The run's claims
are renewed while the gate works and released when it fails or is interrupted.

``storage`` is the declared run storage (``dagspec.yaml`` ``spec.storage.url``): run folders
then live in ``<storage>/runs``, so the next gate finds them on any worker; on an object store
the gate works on a local copy of its run folder and writes back what changed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dagspec_runtime import storage as run_storage
from dagspec_runtime.errors import StepFailed
from dagspec_runtime.etl.claims import holding_claims
from dagspec_runtime.etl.context import GateContext, make_context
from dagspec_runtime.etl.errors import GateRefused
from dagspec_runtime.etl.gates import run_gate
from dagspec_runtime.etl.runfolder import safe_name
from dagspec_runtime.metalog.engine import resolve_meta_url


def default_sqlite_path() -> Path:
    """Embedded meta DB when no connection is defined: $DAGSPEC_META_SQLITE, else under
    $AIRFLOW_HOME (kept across runs, unlike a temp folder)."""
    explicit = os.environ.get("DAGSPEC_META_SQLITE")
    if explicit:
        return Path(explicit)
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / "dagspec" / "meta.sqlite"


@contextlib.contextmanager
def run_folder_root(
    process_name: str, run_id: str, run_root: str | None, storage: str | None
) -> Iterator[str | None]:
    """The local root under which this run's folder is (``run_dir(root, process, run_id)``).

    Declared shared storage: ``<storage>/runs``. Object storage: a temp root holding a copy of
    this run's folder, written back (new or changed files) when the block ends, then removed.
    """
    root = run_storage.run_root(storage) or run_root
    if not run_storage.is_url(root):
        yield root
        return
    location = run_storage.join(str(root), safe_name(process_name), safe_name(run_id))
    base = Path(tempfile.mkdtemp(prefix="dagspec-runs-"))
    try:
        local = base / safe_name(process_name) / safe_name(run_id)
        with run_storage.checkout(location, local=local):
            yield str(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run_gate_task(
    *,
    gate: str,
    process: dict[str, Any],
    run_id: str,
    meta_conn_id: str | None,
    meta_sqlite_path: str | None = None,
    run_root: str | None = None,
    project_root: str | None = None,
    storage: str | None = None,
    log: logging.Logger,
    lookup: Callable[[str], str | None] | None = None,
    on_start: Callable[[GateContext], None] | None = None,
) -> dict[str, Any]:
    """Run gate ``gate``; its summary. A refusal is a ``StepFailed`` that no retry can help."""
    sqlite_path = Path(meta_sqlite_path) if meta_sqlite_path else None
    if project_root is not None:
        # The process's relative paths (landing, evidence, quarantine) are project paths.
        os.environ["DAGSPEC_PROJECT_DIR"] = project_root
        if sqlite_path is not None and not sqlite_path.is_absolute():
            sqlite_path = Path(project_root) / sqlite_path
    meta_url = resolve_meta_url(meta_conn_id, sqlite_path or default_sqlite_path(), lookup=lookup)
    run_storage.check(storage)
    with run_folder_root(str(process["name"]), run_id, run_root, storage) as root:
        ctx = make_context(process, run_id, meta_url=meta_url, run_root=root, lookup=lookup)
        return _run(gate, ctx, log, on_start)


def _run(
    gate: str, ctx: GateContext, log: logging.Logger, on_start: Callable[[GateContext], None] | None
) -> dict[str, Any]:
    log.info("gate %s of process %s, run folder %s", gate, ctx.cfg.name, ctx.dir)
    if on_start is not None:
        on_start(ctx)
    try:
        # Renewed while the gate works, released if it fails, raises or is interrupted.
        with holding_claims(ctx.ledger, ctx.run_id, ctx.cfg.lease_seconds):
            summary = run_gate(gate, ctx)
    except GateRefused as exc:
        raise StepFailed(str(exc), retry=False) from exc
    log.info("gate %s: %s", gate, summary)
    return summary
