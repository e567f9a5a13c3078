"""The sink side: reflect the target table, plan schema evolution and type changes, apply DDL.

Planning (pure reads) and applying (DDL) are separate gates so a refused change never leaves a
half-altered table behind.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dagspec_runtime.etl.coltypes import change_kind, from_sql_type, sql_type
from dagspec_runtime.etl.config import Column, ProcessConfig
from dagspec_runtime.etl.decimals import DecimalText

UNIT_COL = "_dagspec_unit"
ROW_COL = "_dagspec_row"
MARKERS = "dagspec_loaded_units"


def split_name(name: str) -> tuple[str | None, str]:
    schema, _, table = name.rpartition(".")
    return (schema or None), table


def reflect(engine: sa.Engine, name: str) -> list[dict[str, Any]] | None:
    """Target columns as reflected, or None when the table does not exist yet."""
    schema, table = split_name(name)
    insp = sa.inspect(engine)
    if not insp.has_table(table, schema=schema):
        return None
    return insp.get_columns(table, schema=schema)


def target_table(cfg: ProcessConfig, md: sa.MetaData | None = None) -> sa.Table:
    """The target as the contract sees it (extra target columns are simply not referenced)."""
    schema, table = split_name(cfg.target)
    cols = [sa.Column(c.name, sql_type(c), nullable=c.nullable) for c in cfg.columns]
    return sa.Table(table, md or sa.MetaData(), *cols, schema=schema)


def staging_table(cfg: ProcessConfig, md: sa.MetaData | None = None) -> sa.Table:
    """Staging keeps rows per unit until finalize moves them; it survives a killed run."""
    schema, table = split_name(cfg.target)
    cols = [sa.Column(c.name, sql_type(c), nullable=True) for c in cfg.columns]
    cols += [
        sa.Column(UNIT_COL, sa.BigInteger, nullable=False, index=True),
        sa.Column(ROW_COL, sa.Integer, nullable=False),
    ]
    return sa.Table(f"{table}__dgs_stage", md or sa.MetaData(), *cols, schema=schema)


def markers_table(cfg: ProcessConfig, md: sa.MetaData | None = None) -> sa.Table:
    """Units already moved into the target, written in the finalize transaction itself: the
    exactly-once guard, kept in the sink database so it commits atomically with the rows."""
    schema, _ = split_name(cfg.target)
    return sa.Table(
        MARKERS,
        md or sa.MetaData(),
        sa.Column("process", sa.String(200), primary_key=True),
        sa.Column("unit_id", sa.BigInteger, primary_key=True),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("rows_loaded", sa.Integer, nullable=False),
        sa.Column("loaded_at", sa.DateTime, nullable=False),
        schema=schema,
    )


def plan_evolution(cfg: ProcessConfig, reflected: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What the target needs so every contract column has a place; refusals listed."""
    if reflected is None:
        return {"target_exists": False, "create": True, "add_columns": [], "refusals": []}
    have = {c["name"] for c in reflected}
    add = [c.name for c in cfg.columns if c.name not in have]
    wanted = set(cfg.column_names)
    refusals = [
        f"target column {c['name']!r} is NOT NULL without a default and not in the contract"
        for c in reflected
        if c["name"] not in wanted and not c.get("nullable", True) and c.get("default") is None
    ]
    return {"target_exists": True, "create": False, "add_columns": add, "refusals": refusals}


def plan_compatibility(
    cfg: ProcessConfig, reflected: list[dict[str, Any]] | None, dialect: str = ""
) -> dict[str, Any]:
    """Classify each existing target column against the contract: same, widen or narrow.

    On SQLite a contract decimal needs a DECIMAL_TEXT column: a NUMERIC or REAL one made
    elsewhere already holds floats, so that is counted as narrowing and refused (an INTEGER
    column widens: the ddl gate rebuilds it as DECIMAL_TEXT).
    """
    changes: list[dict[str, Any]] = []
    if reflected is not None:
        by_name = {c["name"]: c for c in reflected}
        for col in cfg.columns:
            if col.name not in by_name:
                continue
            r = by_name[col.name]
            have = from_sql_type(col.name, r["type"], bool(r.get("nullable", True)))
            kind = change_kind(have, col)
            if (
                dialect == "sqlite"
                and col.type == "decimal"
                and have.type == "decimal"
                and not isinstance(r["type"], DecimalText)
            ):
                kind = "narrow"
                have = Column(have.name, f"{r['type']} (inexact on SQLite)", have.nullable)
            if kind != "same":
                changes.append(
                    {
                        "column": col.name,
                        "target": have.describe(),
                        "contract": col.describe(),
                        "kind": kind,
                    }
                )
    narrow = [c for c in changes if c["kind"] == "narrow"]
    widen = [c for c in changes if c["kind"] == "widen"]
    return {"changes": changes, "narrowing": narrow, "widening": widen}


def _quote(engine: sa.Engine | sa.Connection, name: str) -> str:
    schema, table = split_name(name)
    prep = engine.dialect.identifier_preparer
    return (prep.quote_schema(schema) + "." if schema else "") + prep.quote(table)


def apply_ddl(
    engine: sa.Engine, cfg: ProcessConfig, evolution: dict[str, Any], compat: dict[str, Any]
) -> list[str]:
    """Create/alter the target and make sure staging and markers exist. Returns what ran.

    Concurrent runs may plan the same change: on PostgreSQL the DDL runs under a transaction
    advisory lock and the plan is re-checked against the table as it is now.
    """
    done: list[str] = []
    prep = engine.dialect.identifier_preparer
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                {"k": f"dagspec-ddl:{cfg.target}"},
            )
        schema, table = split_name(cfg.target)
        insp = sa.inspect(conn)
        exists = insp.has_table(table, schema=schema)
        have = {c["name"] for c in insp.get_columns(table, schema=schema)} if exists else set()
        if evolution["create"] and not exists:
            target_table(cfg).create(conn)
            done.append(f"create table {cfg.target}")
        for name in evolution["add_columns"]:
            if name in have:
                continue
            col: Column = cfg.column(name)
            ddl = (
                f"ALTER TABLE {_quote(engine, cfg.target)} ADD COLUMN {prep.quote(name)} "
                f"{sql_type(col).compile(dialect=engine.dialect)}"
            )
            conn.execute(sa.text(ddl))
            done.append(ddl)
        _ensure_helpers(conn, cfg)
        # Widening changes the target AND staging (a staging column left at the old type would
        # round the new digits away before they reach the target); the mart follows in publish.
        for name in (cfg.target, staging_table(cfg).fullname):
            done += _widen(conn, cfg, name)
    return done


def _widen(conn: sa.Connection, cfg: ProcessConfig, name: str) -> list[str]:
    """Give every column of `name` whose contract type is wider the contract type.

    PostgreSQL: ALTER COLUMN ... TYPE ... USING. SQLite cannot change a column's declared type,
    and the declared type is what the compatibility gate reads back (a widening left undeclared
    would let a later narrowing through), so the table is rebuilt: create a copy with the new
    types, copy the rows, drop the old table, rename the copy, recreate its indexes.
    """
    schema, table = split_name(name)
    insp = sa.inspect(conn)
    if not insp.has_table(table, schema=schema):
        return []
    wanted = {c.name: c for c in cfg.columns}
    changed: dict[str, Column] = {}
    for r in insp.get_columns(table, schema=schema):
        col = wanted.get(r["name"])
        if col is None:
            continue
        have = from_sql_type(r["name"], r["type"], bool(r.get("nullable", True)))
        if change_kind(have, col) == "widen":
            changed[col.name] = col
    if not changed:
        return []
    prep = conn.dialect.identifier_preparer
    if conn.dialect.name != "sqlite":
        done = []
        for col in changed.values():
            type_sql = sql_type(col).compile(dialect=conn.dialect)
            ddl = (
                f"ALTER TABLE {_quote(conn, name)} ALTER COLUMN {prep.quote(col.name)} "
                f"TYPE {type_sql} USING {prep.quote(col.name)}::{type_sql}"
            )
            conn.execute(sa.text(ddl))
            done.append(ddl)
        return done
    return [_sqlite_rebuild(conn, schema, table, changed)]


def _sqlite_rebuild(
    conn: sa.Connection, schema: str | None, table: str, changed: dict[str, Column]
) -> str:
    old = sa.Table(table, sa.MetaData(), autoload_with=conn, schema=schema)
    indexes = sa.inspect(conn).get_indexes(table, schema=schema)
    tmp_name = f"{table}__dgs_retype"
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {_quote(conn, _full(schema, tmp_name))}"))
    # a write first, so pysqlite opens the transaction the rebuild then runs in as one unit
    conn.execute(sa.text("CREATE TEMP TABLE IF NOT EXISTS dgs_retype_guard (x INTEGER)"))
    conn.execute(sa.text("DELETE FROM dgs_retype_guard"))
    cols = [
        sa.Column(
            c.name,
            sql_type(changed[c.name]) if c.name in changed else c.type,
            nullable=c.nullable,
            primary_key=c.primary_key,
        )
        for c in old.columns
    ]
    new = sa.Table(tmp_name, sa.MetaData(), *cols, schema=schema)
    new.create(conn)
    names = [c.name for c in old.columns]
    conn.execute(sa.insert(new).from_select(names, sa.select(*[old.c[n] for n in names])))
    old.drop(conn)
    conn.execute(
        sa.text(
            f"ALTER TABLE {_quote(conn, _full(schema, tmp_name))} "
            f"RENAME TO {conn.dialect.identifier_preparer.quote(table)}"
        )
    )
    renamed = sa.Table(table, sa.MetaData(), autoload_with=conn, schema=schema)
    for ix in indexes:
        sa.Index(
            ix["name"], *[renamed.c[str(c)] for c in ix["column_names"]], unique=ix["unique"]
        ).create(conn)
    what = ", ".join(f"{n} {c.describe()}" for n, c in changed.items())
    return f"rebuild {_full(schema, table)} on sqlite with {what}"


def _full(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _ensure_helpers(conn: sa.Connection, cfg: ProcessConfig) -> None:
    md = sa.MetaData()
    stage = staging_table(cfg, md)
    markers_table(cfg, md)
    md.create_all(conn, checkfirst=True)
    have = {c["name"] for c in sa.inspect(conn).get_columns(stage.name, schema=stage.schema)}
    prep = conn.dialect.identifier_preparer
    for col in cfg.columns:
        if col.name not in have:
            conn.execute(
                sa.text(
                    f"ALTER TABLE {_quote(conn, stage.fullname)} ADD COLUMN "
                    f"{prep.quote(col.name)} {sql_type(col).compile(dialect=conn.dialect)}"
                )
            )
