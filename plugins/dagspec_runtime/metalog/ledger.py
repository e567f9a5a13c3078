"""Ledger: every meta-log read and write a manifest run makes, each in its own short transaction.

Why this shape: a unit (one landing file, or one SQL batch) is identified by path + content hash
and registered once (unique constraint). A run *claims* units with a lease before working on
them (SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL, a guarded UPDATE on SQLite), so two
concurrent runs split the work instead of doing it twice; a killed run's lease expires and the
next run resumes. Step logs are one row per unit, updated in place, so re-runs never add rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from dagspec_runtime.metalog import schema as s


def utcnow() -> datetime:
    """Naive UTC: SQLite and PostgreSQL compare these the same way."""
    return datetime.now(UTC).replace(tzinfo=None)


def dialect_insert(engine_or_conn: sa.Engine | sa.Connection, table: sa.Table) -> Any:
    """INSERT with ON CONFLICT support for the two databases we run on."""
    name = engine_or_conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect {name!r}")


@dataclass(frozen=True)
class UnitRef:
    """A unit of work as seen on disk (or in a source table) before it is registered."""

    path: str
    content_hash: str
    size_bytes: int = 0
    watermark: str | None = None


class Ledger:
    """Meta-log access for one process."""

    def __init__(self, engine: sa.Engine, process: str) -> None:
        self.engine = engine
        self.process = process

    # -- schema -----------------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the tables; two processes racing to create them is not an error."""
        for attempt in range(3):
            try:
                s.create_all(self.engine)
                return
            except DBAPIError:
                if attempt == 2:
                    raise

    # -- ingestion --------------------------------------------------------------------------
    def register(self, units: Sequence[UnitRef]) -> dict[tuple[str, str], int]:
        """Log units on ingestion; already-known path+hash pairs are left as they are."""
        if not units:
            return {}
        il = s.ingestion_log
        now = utcnow()
        rows = [
            {
                "process": self.process,
                "path": u.path,
                "content_hash": u.content_hash,
                "size_bytes": u.size_bytes,
                "watermark": u.watermark,
                "state": s.NEW,
                "ingested_at": now,
            }
            for u in units
        ]
        with self.engine.begin() as conn:
            stmt = (
                dialect_insert(conn, il)
                .on_conflict_do_nothing(index_elements=["process", "path", "content_hash"])
                .returning(il.c.id)  # batched into multi-row INSERTs (see set_status_many)
            )
            for start in range(0, len(rows), 1000):
                conn.execute(stmt, rows[start : start + 1000]).all()
        wanted = {(u.path, u.content_hash) for u in units}
        paths = sorted({u.path for u in units})
        found: dict[tuple[str, str], int] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(paths), 500):
                q = sa.select(il.c.id, il.c.path, il.c.content_hash).where(
                    il.c.process == self.process, il.c.path.in_(paths[start : start + 500])
                )
                for row in conn.execute(q):
                    key = (row.path, row.content_hash)
                    if key in wanted:
                        found[key] = row.id
        return found

    def open_units(self) -> list[sa.Row[Any]]:
        """Units registered but not yet committed (NEW): the work a run may resume."""
        il = s.ingestion_log
        q = (
            sa.select(il.c.id, il.c.path, il.c.content_hash, il.c.claimed_by, il.c.claimed_until)
            .where(il.c.process == self.process, il.c.state == s.NEW)
            .order_by(il.c.id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(q))

    def supersede(self, unit_ids: Iterable[int]) -> None:
        """A file that changed or vanished before commit is replaced by its new version."""
        ids = list(unit_ids)
        if not ids:
            return
        il = s.ingestion_log
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(il)
                .where(il.c.id.in_(ids), il.c.state == s.NEW)
                .values(state=s.SUPERSEDED)
            )

    def claim(
        self,
        run_id: str,
        unit_ids: Sequence[int],
        lease_seconds: float,
        limit: int | None = None,
    ) -> list[int]:
        """Claim open units for this run; returns the ids this run now holds."""
        if not unit_ids:
            return []
        il = s.ingestion_log
        now = utcnow()
        claimable = sa.and_(
            il.c.process == self.process,
            il.c.state == s.NEW,
            il.c.id.in_(list(unit_ids)),
            sa.or_(il.c.claimed_by.is_(None), il.c.claimed_by == run_id, il.c.claimed_until < now),
        )
        values = {"claimed_by": run_id, "claimed_until": now + timedelta(seconds=lease_seconds)}
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                q = sa.select(il.c.id).where(claimable).order_by(il.c.id).limit(limit)
                ids = list(conn.scalars(q.with_for_update(skip_locked=True)))
                if ids:
                    conn.execute(sa.update(il).where(il.c.id.in_(ids)).values(**values))
            else:
                # SQLite: write first (no read-then-upgrade); the WHERE is the guard.
                pick = sa.select(il.c.id).where(claimable).order_by(il.c.id).limit(limit)
                conn.execute(
                    sa.update(il)
                    .where(il.c.id.in_(pick.scalar_subquery()), claimable)
                    .values(**values)
                )
        return self.held(run_id, unit_ids)

    def held(self, run_id: str, unit_ids: Sequence[int] | None = None) -> list[int]:
        il = s.ingestion_log
        q = sa.select(il.c.id).where(il.c.process == self.process, il.c.claimed_by == run_id)
        if unit_ids is not None:
            q = q.where(il.c.id.in_(list(unit_ids)))
        with self.engine.connect() as conn:
            return sorted(conn.scalars(q))

    def release(self, run_id: str) -> None:
        """Give back claims (after a deterministic failure) so a fixed re-run can proceed."""
        il = s.ingestion_log
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(il)
                .where(il.c.process == self.process, il.c.claimed_by == run_id)
                .values(claimed_by=None, claimed_until=None)
            )

    def renew(self, run_id: str, lease_seconds: float) -> int:
        """Push this run's leases forward (the heartbeat of a live run); returns rows renewed."""
        il = s.ingestion_log
        mine = sa.and_(il.c.process == self.process, il.c.claimed_by == run_id, il.c.state == s.NEW)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Rows the run itself has locked right now (a claim, a state commit) are left
                # alone: locking them from this thread too could deadlock with it.
                ids = sa.select(il.c.id).where(mine).order_by(il.c.id)
                mine = il.c.id.in_(ids.with_for_update(skip_locked=True).scalar_subquery())
            return int(
                conn.execute(
                    sa.update(il)
                    .where(mine)
                    .values(claimed_until=utcnow() + timedelta(seconds=lease_seconds))
                ).rowcount
                or 0
            )

    def holders(self, unit_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Who holds these units right now: unit id, path, holder run id, lease end."""
        ids = list(unit_ids)
        if not ids:
            return []
        il = s.ingestion_log
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                q = (
                    sa.select(il.c.id, il.c.path, il.c.claimed_by, il.c.claimed_until)
                    .where(il.c.id.in_(ids[start : start + 500]))
                    .order_by(il.c.id)
                )
                out += [
                    {
                        "unit_id": r.id,
                        "path": r.path,
                        "holder_run_id": r.claimed_by,
                        "claimed_until": r.claimed_until.isoformat() if r.claimed_until else None,
                    }
                    for r in conn.execute(q)
                ]
        return out

    def units(self, unit_ids: Sequence[int]) -> list[sa.Row[Any]]:
        il = s.ingestion_log
        q = sa.select(il).where(il.c.id.in_(list(unit_ids))).order_by(il.c.id)
        with self.engine.connect() as conn:
            return list(conn.execute(q))

    # -- step logs --------------------------------------------------------------------------
    def statuses(self, step: str, unit_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
        """unit id → (status, retry_count) for units that have a row in the step's log."""
        if not unit_ids:
            return {}
        t = s.STEP_LOGS[step]
        q = sa.select(t.c.unit_id, t.c.status, t.c.retry_count).where(
            t.c.unit_id.in_(list(unit_ids))
        )
        with self.engine.connect() as conn:
            return {r.unit_id: (r.status, r.retry_count) for r in conn.execute(q)}

    def step_rows(
        self, step: str, unit_ids: Sequence[int]
    ) -> dict[int, tuple[int | None, int | None, str]]:
        """unit id → (rows_in, rows_out, status) of its row in the step's log."""
        if not unit_ids:
            return {}
        t = s.STEP_LOGS[step]
        q = sa.select(t.c.unit_id, t.c.rows_in, t.c.rows_out, t.c.status).where(
            t.c.unit_id.in_(list(unit_ids))
        )
        with self.engine.connect() as conn:
            return {r.unit_id: (r.rows_in, r.rows_out, r.status) for r in conn.execute(q)}

    def statuses_messages(self, step: str, unit_ids: Sequence[int]) -> dict[int, str | None]:
        """unit id → the message of its row in the step's log."""
        if not unit_ids:
            return {}
        t = s.STEP_LOGS[step]
        q = sa.select(t.c.unit_id, t.c.message).where(t.c.unit_id.in_(list(unit_ids)))
        with self.engine.connect() as conn:
            return {r.unit_id: r.message for r in conn.execute(q)}

    def set_status(
        self,
        step: str,
        unit_id: int,
        run_id: str,
        status: str,
        *,
        rows_in: int | None = None,
        rows_out: int | None = None,
        message: str | None = None,
        bump_retry: bool = False,
        conn: sa.Connection | None = None,
    ) -> None:
        """Upsert the unit's row in a step log (one row per unit, ever)."""
        t = s.STEP_LOGS[step]
        values: dict[str, Any] = {
            "run_id": run_id,
            "status": status,
            "rows_in": rows_in,
            "rows_out": rows_out,
            "message": message,
            "updated_at": utcnow(),
        }
        if conn is None:
            with self.engine.begin() as own:
                self._upsert(own, t, unit_id, values, bump_retry)
        else:
            self._upsert(conn, t, unit_id, values, bump_retry)

    def set_status_many(
        self,
        step: str,
        run_id: str,
        items: Sequence[dict[str, Any]],
        *,
        bump_retry: bool = False,
        conn: sa.Connection | None = None,
    ) -> None:
        """set_status for many units in one transaction (one statement per 500 units).

        Each item: unit_id, status, and optionally rows_in, rows_out, message. This is what
        keeps the bookkeeping of a 5,000-file run to a handful of round trips.
        """
        if not items:
            return
        t = s.STEP_LOGS[step]
        now = utcnow()
        rows = [
            {
                "unit_id": it["unit_id"],
                "process": self.process,
                "run_id": run_id,
                "status": it["status"],
                "retry_count": 0,
                "rows_in": it.get("rows_in"),
                "rows_out": it.get("rows_out"),
                "message": it.get("message"),
                "updated_at": now,
            }
            for it in items
        ]

        def write(c: sa.Connection) -> None:
            stmt = dialect_insert(c, t)
            update: dict[str, Any] = {
                k: stmt.excluded[k]
                for k in ("run_id", "status", "rows_in", "rows_out", "message", "updated_at")
            }
            if bump_retry:
                update["retry_count"] = t.c.retry_count + 1
            # RETURNING makes SQLAlchemy batch the rows into multi-row INSERTs ("insertmanyvalues");
            # without it psycopg2 sends one statement per row.
            stmt = stmt.on_conflict_do_update(index_elements=["unit_id"], set_=update).returning(
                t.c.unit_id
            )
            for start in range(0, len(rows), 1000):
                c.execute(stmt, rows[start : start + 1000]).all()

        if conn is None:
            with self.engine.begin() as own:
                write(own)
        else:
            write(conn)

    def _upsert(
        self,
        conn: sa.Connection,
        t: sa.Table,
        unit_id: int,
        values: dict[str, Any],
        bump_retry: bool,
    ) -> None:
        stmt = dialect_insert(conn, t).values(
            unit_id=unit_id, process=self.process, retry_count=0, **values
        )
        update = dict(values)
        if bump_retry:
            update["retry_count"] = t.c.retry_count + 1
        conn.execute(stmt.on_conflict_do_update(index_elements=["unit_id"], set_=update))

    # -- commit points ----------------------------------------------------------------------
    def audit(self, run_id: str, record: dict[str, Any]) -> None:
        """Record the committed load once per run (idempotent on retry)."""
        stmt = dialect_insert(self.engine, s.load_audit).values(
            process=self.process, run_id=run_id, committed_at=utcnow(), **record
        )
        with self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["process", "run_id"]))

    def audited(self, run_id: str) -> sa.Row[Any] | None:
        la = s.load_audit
        q = sa.select(la).where(la.c.process == self.process, la.c.run_id == run_id)
        with self.engine.connect() as conn:
            return conn.execute(q).first()

    def completed(self, run_id: str) -> bool:
        """Whether a run with this id already committed: audited, and units committed by it."""
        if self.audited(run_id) is None:
            return False
        il = s.ingestion_log
        q = sa.select(il.c.id).where(il.c.process == self.process, il.c.committed_by == run_id)
        with self.engine.connect() as conn:
            return conn.execute(q.limit(1)).first() is not None

    def publish_pending(self) -> bool:
        """Whether the last publish of this process failed (the mart is stale or missing)."""
        pl = s.publish_log
        q = (
            sa.select(pl.c.status)
            .where(pl.c.process == self.process)
            .order_by(pl.c.updated_at.desc(), pl.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            last = conn.scalar(q)
        return last is not None and last != s.PASS

    def commit_state(self, run_id: str, unit_ids: Sequence[int], watermark: str | None) -> int:
        """Advance source state in one transaction: units COMMITTED, counter and watermark."""
        il = s.ingestion_log
        ps = s.process_state
        now = utcnow()
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(il)
                .where(il.c.id.in_(list(unit_ids)), il.c.state == s.NEW)
                .values(
                    state=s.COMMITTED,
                    committed_at=now,
                    committed_by=run_id,
                    claimed_by=None,
                    claimed_until=None,
                )
            ).rowcount
            base = {"last_run_id": run_id, "updated_at": now}
            if watermark is not None:
                base["watermark"] = watermark
            stmt = dialect_insert(conn, ps).values(
                process=self.process, units_committed=done, **base
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["process"],
                    set_={**base, "units_committed": ps.c.units_committed + done},
                )
            )
        return done

    def state(self) -> sa.Row[Any] | None:
        ps = s.process_state
        with self.engine.connect() as conn:
            return conn.execute(sa.select(ps).where(ps.c.process == self.process)).first()

    def publish(self, run_id: str, mart: str, status: str, units: int, rows_out: int) -> None:
        stmt = dialect_insert(self.engine, s.publish_log).values(
            process=self.process,
            run_id=run_id,
            mart=mart,
            status=status,
            units=units,
            rows_out=rows_out,
            updated_at=utcnow(),
        )
        with self.engine.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["process", "run_id"],
                    set_={"status": status, "rows_out": rows_out, "updated_at": utcnow()},
                )
            )

    def counts(self) -> dict[str, int]:
        """Rows per meta-log table for this process (what tests and operators look at)."""
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            for t in (
                s.ingestion_log,
                s.validation_log,
                s.stage_load_log,
                s.transform_log,
                s.publish_log,
                s.load_audit,
            ):
                q = sa.select(sa.func.count()).select_from(t).where(t.c.process == self.process)
                out[t.name] = int(conn.scalar(q) or 0)
        return out
