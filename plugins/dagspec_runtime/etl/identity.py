"""Table identity, not table names: every table a process writes resolved to (database, schema,
table) by its backend's own rules, so two roles that are one table are caught before anything
is written.

- SQLite: `main.orders`, `MAIN.Orders` and `orders` are one table (names are case-insensitive,
  `main` is the default schema); an attached database is identified by its file, so two
  aliases of one file are one database.
- PostgreSQL: an unqualified name is the table in `current_schema()` (the first schema of the
  search_path that exists); unquoted names fold to lower case; the database is host, port and
  name.

Roles: the sink, its staging table, the mart, the meta-log tables and the loaded-units markers
of this process; the sinks and marts other processes of the same meta-log have used (from
`load_audit` and `publish_log`). Pure runtime: no Airflow import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import sqlalchemy as sa

from dagspec_runtime.etl.config import ProcessConfig
from dagspec_runtime.etl.target import MARKERS, split_name, staging_table
from dagspec_runtime.metalog import schema as meta_schema


@dataclass(frozen=True)
class TableId:
    database: str
    schema: str
    table: str

    def __str__(self) -> str:
        return f"{self.database}:{self.schema}.{self.table}" if self.schema else self.table


class TableClash(ValueError):
    """Two roles of the run (or of two processes) resolve to one table."""


def _database(engine: sa.Engine) -> str:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return os.path.realpath(url.database) if url.database else ":memory:"
    return f"{url.host}:{url.port or 5432}/{url.database}"


def resolve(conn: sa.Connection, name: str) -> TableId:
    """The identity of `name` on this connection's database."""
    schema, table = split_name(name)
    if conn.dialect.name == "sqlite":
        files = {
            str(r[1]).lower(): str(r[2] or "") for r in conn.exec_driver_sql("PRAGMA database_list")
        }
        alias = (schema or "main").lower()
        file = files.get(alias, "")
        database = os.path.realpath(file) if file else f"{alias}:memory"
        return TableId(database, "", table.lower())
    current = conn.scalar(sa.text("SELECT current_schema()")) or "public"
    database = _database(conn.engine)
    return TableId(database, (schema or current).lower(), table.lower())


def _roles(cfg: ProcessConfig) -> list[tuple[str, str, str]]:
    """(role, name, where): `where` is sink or meta, the database the table lives in."""
    roles = [("sink", cfg.target, "sink"), ("staging", staging_table(cfg).fullname, "sink")]
    schema, _ = split_name(cfg.target)
    roles.append(("markers", f"{schema}.{MARKERS}" if schema else MARKERS, "sink"))
    if cfg.publish:
        roles.append(("mart", cfg.publish.table, "sink"))
    roles += [(f"meta-log {t}", t, "meta") for t in meta_schema.metadata.tables]
    return roles


def check(cfg: ProcessConfig, sink: sa.Engine, meta: sa.Engine) -> None:
    """Refuse when two roles of this process, or a role of this process and the sink or mart of
    another process recorded in the meta-log, are one table."""
    seen: dict[TableId, str] = {}
    with sink.connect() as s_conn, meta.connect() as m_conn:
        for role, name, where in _roles(cfg):
            tid = resolve(s_conn if where == "sink" else m_conn, name)
            if tid in seen:
                raise TableClash(
                    f"the {role} table `{name}` and the {seen[tid]} are the same table ({tid}); "
                    "give each its own table"
                )
            seen[tid] = f"{role} table `{name}`"
        for other, name, role in _others(m_conn, cfg.name):
            tid = resolve(s_conn, name)
            mine = seen.get(tid)
            if mine and not mine.startswith("meta-log"):
                raise TableClash(
                    f"the {mine} is the {role} table `{name}` of process `{other}` ({tid}); "
                    "a process must not write another process's table"
                )


def _others(conn: sa.Connection, process: str) -> list[tuple[str, str, str]]:
    """Sinks and marts other processes have written, as recorded in the meta-log."""
    out: list[tuple[str, str, str]] = []
    insp = sa.inspect(conn)
    la, pl = meta_schema.load_audit, meta_schema.publish_log
    if insp.has_table(la.name):
        q = sa.select(la.c.process, la.c.target).where(la.c.process != process).distinct()
        out += [(p, t, "sink") for p, t in conn.execute(q) if t]
    if insp.has_table(pl.name):
        q = sa.select(pl.c.process, pl.c.mart).where(pl.c.process != process).distinct()
        out += [(p, m, "mart") for p, m in conn.execute(q) if m]
    return out
