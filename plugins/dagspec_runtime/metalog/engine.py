"""Reach our database through an Airflow connection, or the embedded SQLite file when the
connection is not defined. Airflow is imported lazily so benchmarks and scripts stay fast."""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

DEFAULT_CONN_ID = "dagspec_meta"
#: finds the SQLAlchemy URL of a connection id, None when it is not defined
Lookup = Callable[[str], "str | None"]

_DRIVERS = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "sqlite": "sqlite",
}


def _connection_url(conn_id: str) -> str | None:
    """SQLAlchemy URL of an Airflow connection, or None when it is not defined."""
    from airflow.sdk import BaseHook

    from dagspec_runtime.airflow_compat import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    return _url_of(
        conn_id,
        conn.conn_type,
        conn.extra_dejson,
        conn.login,
        conn.password,
        conn.host,
        conn.port,
        conn.schema,
    )


def _url_of(
    conn_id: str,
    conn_type: str | None,
    extra: dict | None,
    login: str | None,
    password: str | None,
    host: str | None,
    port: int | None,
    schema: str | None,
) -> str:
    extra = extra or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    driver = _DRIVERS.get(conn_type or "")
    if driver is None:
        raise ValueError(f"connection {conn_id!r}: unsupported conn_type {conn_type!r}")
    if driver == "sqlite":
        path = schema or host or ""
        return f"sqlite:///{path}"
    url = sa.URL.create(
        driver,
        username=login or None,
        password=password or None,
        host=host or None,
        port=port or None,
        database=schema or None,
    )
    return url.render_as_string(hide_password=False)


def env_connection_url(conn_id: str) -> str | None:
    """The URL of connection ``conn_id`` from ``AIRFLOW_CONN_<ID>`` (Airflow's JSON or URI
    form), without importing Airflow: how the fast local runner finds connections."""
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not raw:
        return None
    if raw.lstrip().startswith("{"):
        data = json.loads(raw)
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
        return _url_of(
            conn_id,
            data.get("conn_type"),
            extra,
            data.get("login"),
            data.get("password"),
            data.get("host"),
            data.get("port"),
            data.get("schema"),
        )
    parts = urlsplit(raw)
    conn_type = parts.scheme.replace("-", "_")
    conn_type = "postgres" if conn_type == "postgresql" else conn_type
    return _url_of(
        conn_id,
        conn_type,
        None,
        unquote(parts.username or "") or None,
        unquote(parts.password or "") or None,
        unquote(parts.hostname or "") or None,
        parts.port,
        unquote(parts.path.lstrip("/")) or None,
    )


def resolve_meta_url(
    conn_id: str | None, sqlite_path: str | os.PathLike[str] | None, lookup: Lookup | None = None
) -> str:
    """Connection first (through Airflow unless ``lookup`` is given); the SQLite fallback only
    when the connection does not exist."""
    if conn_id:
        url = (lookup or _connection_url)(conn_id)
        if url:
            return url
    if sqlite_path is None:
        raise ValueError(f"connection {conn_id!r} is not defined and no SQLite fallback was given")
    path = Path(sqlite_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


#: engines kept per process, least recently used first
_ENGINES: OrderedDict[str, sa.Engine] = OrderedDict()
_ENGINES_LOCK = threading.Lock()
MAX_ENGINES = 16


def engine_for(url: str) -> sa.Engine:
    """One engine per URL per process (the 16 most recently used). An engine dropped from the
    cache is disposed: its pooled connections close now, not whenever the garbage collector
    gets to the engine (on PostgreSQL they count against `max_connections` until then)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is not None:
            _ENGINES.move_to_end(url)
            return engine
        engine = _ENGINES[url] = _new_engine(url)
        if len(_ENGINES) > MAX_ENGINES:
            _, dropped = _ENGINES.popitem(last=False)
            dropped.dispose()  # connections in use stay open; the engine still works
        return engine


def close_idle() -> None:
    """Close the pooled connections of every cached engine (the engines stay usable and
    reconnect when next used): for a process whose databases are done with, such as a test
    session that makes one database per test."""
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
    for engine in engines:
        engine.dispose()


def _new_engine(url: str) -> sa.Engine:
    """SQLite gets WAL and a long busy timeout so concurrent writers wait instead of failing."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)


def is_postgres(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"
