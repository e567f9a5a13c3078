"""Moving rows: staging per unit (repeatable), finalize into the target (one transaction,
exactly once per unit), and publish into a mart (a full rebuild, so repeatable)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import localcontext
from typing import Any

import sqlalchemy as sa

from dagspec_runtime.etl.coltypes import (
    AVG_EXTRA_SCALE,
    EXACT,
    exact_avg,
    from_sql_type,
    sql_type,
)
from dagspec_runtime.etl.config import Column, ProcessConfig
from dagspec_runtime.etl.decimals import ExactDecimal
from dagspec_runtime.etl.target import (
    ROW_COL,
    UNIT_COL,
    markers_table,
    split_name,
    staging_table,
    target_table,
)
from dagspec_runtime.metalog.ledger import dialect_insert, utcnow


def stage_unit(
    engine: sa.Engine, cfg: ProcessConfig, unit_id: int, rows: list[dict[str, Any]]
) -> int:
    """Replace the unit's staged rows; safe to repeat after a crash."""
    stage = staging_table(cfg)
    with engine.begin() as conn:
        conn.execute(sa.delete(stage).where(stage.c[UNIT_COL] == unit_id))
        payload = [{**r, UNIT_COL: unit_id} for r in rows]
        for start in range(0, len(payload), 1000):
            conn.execute(sa.insert(stage), payload[start : start + 1000])
    return len(rows)


def stage_units(
    engine: sa.Engine,
    cfg: ProcessConfig,
    unit_ids: Sequence[int],
    rows: Iterable[tuple[int, dict[str, Any]]],
    batch: int = 2000,
) -> dict[int, int]:
    """Stage many units in ONE transaction (all staged, or none; safe to repeat), inserting
    `batch` rows at a time from a stream: memory does not grow with the number of rows."""
    stage = staging_table(cfg)
    ids = list(unit_ids)
    counts = dict.fromkeys(ids, 0)
    with engine.begin() as conn:
        for start in range(0, len(ids), 500):
            conn.execute(sa.delete(stage).where(stage.c[UNIT_COL].in_(ids[start : start + 500])))
        payload: list[dict[str, Any]] = []
        for uid, row in rows:
            payload.append({**row, UNIT_COL: uid})
            counts[uid] += 1
            if len(payload) >= batch:
                conn.execute(sa.insert(stage), payload)
                payload = []
        if payload:
            conn.execute(sa.insert(stage), payload)
    return counts


def loaded_units(engine: sa.Engine, cfg: ProcessConfig, unit_ids: Sequence[int]) -> set[int]:
    """Units whose rows are already in the target (their marker committed)."""
    if not unit_ids:
        return set()
    m = markers_table(cfg)
    ids = list(unit_ids)
    found: set[int] = set()
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            q = sa.select(m.c.unit_id).where(
                m.c.process == cfg.name, m.c.unit_id.in_(ids[start : start + 500])
            )
            found.update(conn.scalars(q))
    return found


def loaded_by(
    engine: sa.Engine, cfg: ProcessConfig, run_id: str, unit_ids: Sequence[int]
) -> dict[str, Any]:
    """Units of `unit_ids` this run id moved into the target, and their rows (from markers)."""
    m = markers_table(cfg)
    ids = list(unit_ids)
    won: list[int] = []
    rows = 0
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            q = sa.select(m.c.unit_id, m.c.rows_loaded).where(
                m.c.process == cfg.name,
                m.c.run_id == run_id,
                m.c.unit_id.in_(ids[start : start + 500]),
            )
            for uid, n in conn.execute(q):
                won.append(uid)
                rows += int(n or 0)
    return {"won": sorted(won), "rows_loaded": rows}


def finalize(
    engine: sa.Engine, cfg: ProcessConfig, run_id: str, unit_ids: Sequence[int]
) -> dict[str, Any]:
    """Move staged rows of the given units into the target in ONE transaction.

    The marker insert comes first and is the guard: a unit another run already finalized (or is
    finalizing right now — PostgreSQL makes us wait on its row lock) inserts nothing and is
    skipped, so no unit is ever loaded twice.
    """
    tgt, stage, markers = target_table(cfg), staging_table(cfg), markers_table(cfg)
    now = utcnow()
    won: list[int] = []
    ids = list(unit_ids)
    with engine.begin() as conn:
        guard = (
            dialect_insert(conn, markers)
            .on_conflict_do_nothing(index_elements=["process", "unit_id"])
            .returning(markers.c.unit_id)
        )
        for start in range(0, len(ids), 500):
            batch = [
                {
                    "process": cfg.name,
                    "unit_id": uid,
                    "run_id": run_id,
                    "rows_loaded": 0,
                    "loaded_at": now,
                }
                for uid in ids[start : start + 500]
            ]
            won += conn.scalars(guard, batch).all()
        won.sort()
        rows = 0
        if won:
            # append moves in slices (bounded IN lists); replace and merge need the whole set
            step = 500 if cfg.strategy == "append" else len(won)
            for start in range(0, len(won), step):
                rows += _move(conn, cfg, tgt, stage, won[start : start + step])
            staged = (
                sa.select(sa.func.count())
                .where(stage.c[UNIT_COL] == markers.c.unit_id)
                .scalar_subquery()
            )
            for start in range(0, len(won), 500):
                conn.execute(
                    sa.update(markers)
                    .where(
                        markers.c.process == cfg.name,
                        markers.c.unit_id.in_(won[start : start + 500]),
                    )
                    .values(rows_loaded=staged)
                )
        for start in range(0, len(ids), 500):
            conn.execute(sa.delete(stage).where(stage.c[UNIT_COL].in_(ids[start : start + 500])))
    return {"won": won, "rows_loaded": rows}


def _move(
    conn: sa.Connection, cfg: ProcessConfig, tgt: sa.Table, stage: sa.Table, won: list[int]
) -> int:
    cols = cfg.column_names
    sel = sa.select(*[stage.c[c] for c in cols]).where(stage.c[UNIT_COL].in_(won))
    if cfg.strategy == "replace":
        conn.execute(sa.delete(tgt))
    elif cfg.strategy == "merge":
        later = stage.alias("later")
        newer = sa.or_(
            later.c[UNIT_COL] > stage.c[UNIT_COL],
            sa.and_(later.c[UNIT_COL] == stage.c[UNIT_COL], later.c[ROW_COL] > stage.c[ROW_COL]),
        )
        same_key = [later.c[k] == stage.c[k] for k in cfg.merge_key]
        sel = sel.where(~sa.exists().where(later.c[UNIT_COL].in_(won), newer, *same_key))
        in_batch = sa.exists().where(
            stage.c[UNIT_COL].in_(won), *[stage.c[k] == tgt.c[k] for k in cfg.merge_key]
        )
        conn.execute(sa.delete(tgt).where(in_batch))
    res = conn.execute(sa.insert(tgt).from_select(cols, sel))
    return int(res.rowcount or 0)


def mart_table(cfg: ProcessConfig) -> sa.Table:
    """The mart: group-by columns as in the target, exact sums (decimal(p+19,s): room for 2^63
    rows), averages `<col>_avg` at scale s+6 (half to even), and the row count."""
    pub = cfg.publish
    assert pub is not None
    schema, name = split_name(pub.table)
    cols: list[sa.Column[Any]] = [sa.Column(g, sql_type(cfg.column(g))) for g in pub.group_by]
    for c in pub.sums:
        col = cfg.column(c)
        p, sc = _measure(col)
        cols.append(sa.Column(c, ExactDecimal(p + 19, sc)))
    for c in pub.avgs:
        col = cfg.column(c)
        p, sc = _measure(col)
        cols.append(sa.Column(f"{c}_avg", ExactDecimal(p + AVG_EXTRA_SCALE, sc + AVG_EXTRA_SCALE)))
    cols.append(sa.Column(pub.count_as, sa.BigInteger))
    return sa.Table(name, sa.MetaData(), *cols, schema=schema)


def _measure(col: Column) -> tuple[int, int]:
    if col.type == "integer":
        return 19, 0
    if col.type != "decimal":
        raise ValueError(f"publish: column {col.name!r} is {col.type}, not a number")
    return col.precision or 38, col.scale or 0


def _mart_current(conn: sa.Connection, mart: sa.Table) -> bool:
    """Whether the mart exists with exactly the wanted columns and types."""
    insp = sa.inspect(conn)
    if not insp.has_table(mart.name, schema=mart.schema):
        return False
    have = {
        c["name"]: from_sql_type(c["name"], c["type"], True).describe()
        for c in insp.get_columns(mart.name, schema=mart.schema)
    }
    want = {c.name: from_sql_type(c.name, c.type, True).describe() for c in mart.columns}
    # ExactDecimal is not reflected as itself: compare it as the decimal it stands for
    for c in mart.columns:
        if isinstance(c.type, ExactDecimal):
            want[c.name] = f"decimal({c.type.precision},{c.type.scale})"
    return have == want


def publish(engine: sa.Engine, cfg: ProcessConfig) -> int:
    """Rebuild the mart from the target in one transaction (group by, sums, averages, count).

    Exact on both backends: PostgreSQL sums NUMERIC in SQL; SQLite, where decimals are text,
    sums in Python in the wide context coltypes.EXACT. Averages are sum / count rounded half to
    even in Python on both. A mart whose columns no longer match (a widened contract column, a
    new measure) is dropped and created again: the mart is derived state.
    """
    pub = cfg.publish
    assert pub is not None
    tgt = target_table(cfg)
    mart = mart_table(cfg)
    measures = list(dict.fromkeys((*pub.sums, *pub.avgs)))
    keys = [tgt.c[g] for g in pub.group_by]
    width = len(keys)
    with engine.begin() as conn:
        if not _mart_current(conn, mart):
            mart.drop(conn, checkfirst=True)
            mart.create(conn)
        conn.execute(sa.delete(mart))
        agg: dict[tuple[Any, ...], tuple[list[Any], list[int], int]] = {}
        m = len(measures)
        if engine.dialect.name == "sqlite":
            with localcontext(EXACT):
                for row in conn.execute(sa.select(*keys, *[tgt.c[c] for c in measures])):
                    key = tuple(row[:width])
                    if key not in agg:
                        agg[key] = ([None] * m, [0] * m, 0)
                    sums, nonnull, n = agg[key]
                    for i, value in enumerate(row[width:]):
                        if value is not None:
                            sums[i] = value if sums[i] is None else sums[i] + value
                            nonnull[i] += 1
                    agg[key] = (sums, nonnull, n + 1)
        else:
            q = sa.select(
                *keys,
                *[sa.func.sum(tgt.c[c]) for c in measures],
                *[sa.func.count(tgt.c[c]) for c in measures],
                sa.func.count(),
            ).group_by(*keys)
            for row in conn.execute(q):
                agg[tuple(row[:width])] = (
                    list(row[width : width + m]),
                    [int(x) for x in row[width + m : width + 2 * m]],
                    int(row[-1]),
                )
        payload = []
        for key, (sums, nonnull, n) in agg.items():
            rec: dict[str, Any] = dict(zip(pub.group_by, key, strict=True))
            for c in pub.sums:
                rec[c] = sums[measures.index(c)]
            for c in pub.avgs:
                i = measures.index(c)
                rec[f"{c}_avg"] = exact_avg(sums[i], nonnull[i], _measure(cfg.column(c))[1])
            rec[pub.count_as] = n
            payload.append(rec)
        for start in range(0, len(payload), 1000):
            conn.execute(sa.insert(mart), payload[start : start + 1000])
    return len(payload)
