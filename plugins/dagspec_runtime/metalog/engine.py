"""Reach our database through an Airflow connection, or the embedded SQLite file when the
connection is not defined. Airflow is imported lazily so benchmarks and scripts stay fast."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa

DEFAULT_CONN_ID = "dagspec_meta"

_DRIVERS = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "sqlite": "sqlite",
}


def _connection_url(conn_id: str) -> str | None:
    """SQLAlchemy URL of an Airflow connection, or None when it is not defined."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    extra = conn.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    driver = _DRIVERS.get(conn.conn_type or "")
    if driver is None:
        raise ValueError(f"connection {conn_id!r}: unsupported conn_type {conn.conn_type!r}")
    if driver == "sqlite":
        path = conn.schema or conn.host or ""
        return f"sqlite:///{path}"
    url = sa.URL.create(
        driver,
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
    )
    return url.render_as_string(hide_password=False)


def resolve_meta_url(conn_id: str | None, sqlite_path: str | os.PathLike[str] | None) -> str:
    """Connection first; the SQLite fallback only when the connection does not exist."""
    if conn_id:
        url = _connection_url(conn_id)
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


@lru_cache(maxsize=16)
def engine_for(url: str) -> sa.Engine:
    """One engine per URL per process. SQLite gets WAL and a long busy timeout so concurrent
    writers wait instead of failing."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)


def is_postgres(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"
