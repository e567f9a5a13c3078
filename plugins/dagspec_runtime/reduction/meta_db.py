"""Open the reduction meta database the way every dagspec operator does: the Airflow connection
if defined, else an embedded SQLite file (relative paths are project paths)."""

from __future__ import annotations

import os
from pathlib import Path

from dagspec_runtime.metalog.engine import Lookup, engine_for, resolve_meta_url
from dagspec_runtime.reduction.store import ReductionStore


def project_path(path: str | os.PathLike[str], project_root: str | None) -> Path:
    """`path` as given when absolute, else under the project root (or the working directory)."""
    p = Path(path)
    if p.is_absolute() or project_root is None:
        return p
    return Path(project_root) / p


def default_sqlite_path() -> Path:
    """$DAGSPEC_META_SQLITE, else under $AIRFLOW_HOME (kept across runs, unlike a temp dir)."""
    explicit = os.environ.get("DAGSPEC_META_SQLITE")
    if explicit:
        return Path(explicit)
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / "dagspec" / "meta.sqlite"


def open_store(
    meta_conn_id: str | None,
    meta_sqlite_path: str | None,
    project_root: str | None,
    lookup: Lookup | None = None,
) -> ReductionStore:
    """The store; `lookup` finds the connection (default: through Airflow; the fast local
    runner passes `engine.env_connection_url`, which reads AIRFLOW_CONN_* without Airflow)."""
    sqlite_path = (
        project_path(meta_sqlite_path, project_root) if meta_sqlite_path else default_sqlite_path()
    )
    url = resolve_meta_url(meta_conn_id, sqlite_path, lookup)
    return ReductionStore(engine_for(url)).ensure()
