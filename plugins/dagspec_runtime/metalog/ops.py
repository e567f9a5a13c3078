"""Operator actions on units, for `dagspec meta`: list units and their state per step, re-queue
a failed unit (its transform gets a fresh retry budget) or skip it for good. Every action is
recorded in `unit_actions` with who and when.

Pure SQLAlchemy; no Airflow import (the CLI resolves the database URL itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from dagspec_runtime.metalog import schema as s
from dagspec_runtime.metalog.ledger import utcnow

REQUEUE, SKIP = "requeue", "skip"


class UnitActionError(ValueError):
    """The unit does not exist in this process, or the action does not apply to its state."""


@dataclass(frozen=True)
class UnitView:
    process: str
    unit_id: int
    path: str
    state: str  # NEW (open) | COMMITTED | SUPERSEDED | SKIPPED
    validation: str | None
    stage: str | None
    transform: str | None
    transform_retries: int
    claimed_by: str | None
    message: str | None

    @property
    def failed(self) -> bool:
        return self.state == s.NEW and s.FAIL in (self.validation, self.transform)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "failed": self.failed}


def list_units(
    engine: sa.Engine, process: str | None = None, *, only_open: bool = False
) -> list[UnitView]:
    """Every unit (or the open ones) with its status in each step log, by process and id."""
    il, v, st, t = s.ingestion_log, s.validation_log, s.stage_load_log, s.transform_log
    q = (
        sa.select(
            il.c.process,
            il.c.id,
            il.c.path,
            il.c.state,
            il.c.claimed_by,
            v.c.status.label("validation"),
            v.c.message.label("v_message"),
            st.c.status.label("stage"),
            t.c.status.label("transform"),
            t.c.retry_count,
            t.c.message.label("t_message"),
        )
        .select_from(
            il.outerjoin(v, v.c.unit_id == il.c.id)
            .outerjoin(st, st.c.unit_id == il.c.id)
            .outerjoin(t, t.c.unit_id == il.c.id)
        )
        .order_by(il.c.process, il.c.id)
    )
    if process is not None:
        q = q.where(il.c.process == process)
    if only_open:
        q = q.where(il.c.state == s.NEW)
    if not sa.inspect(engine).has_table(il.name):
        return []
    with engine.connect() as conn:
        return [
            UnitView(
                process=r.process,
                unit_id=r.id,
                path=r.path,
                state=r.state,
                validation=r.validation,
                stage=r.stage,
                transform=r.transform,
                transform_retries=int(r.retry_count or 0),
                claimed_by=r.claimed_by,
                message=r.t_message if r.transform == s.FAIL else r.v_message,
            )
            for r in conn.execute(q)
        ]


def actions(engine: sa.Engine, process: str | None = None) -> list[dict[str, Any]]:
    ua = s.unit_actions
    q = sa.select(ua).order_by(ua.c.id)
    if process is not None:
        q = q.where(ua.c.process == process)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def _unit(conn: sa.Connection, process: str, unit_id: int) -> sa.Row[Any]:
    il = s.ingestion_log
    row = conn.execute(sa.select(il).where(il.c.process == process, il.c.id == unit_id)).first()
    if row is None:
        raise UnitActionError(f"process {process!r} has no unit {unit_id}")
    if row.state != s.NEW:
        raise UnitActionError(
            f"unit {unit_id} ({row.path}) is {row.state}; only open units can be changed"
        )
    return row


def _record(
    conn: sa.Connection, process: str, unit_id: int, action: str, actor: str, reason: str | None
) -> None:
    conn.execute(
        sa.insert(s.unit_actions).values(
            process=process, unit_id=unit_id, action=action, actor=actor, reason=reason, at=utcnow()
        )
    )


def requeue(
    engine: sa.Engine,
    process: str,
    unit_ids: Sequence[int],
    *,
    actor: str,
    reason: str | None = None,
) -> list[str]:
    """Failed units get another go: step rows that FAILed go back to PENDING with a fresh
    retry count, claims are dropped, so the next run processes them."""
    s.create_all(engine)
    done: list[str] = []
    with engine.begin() as conn:
        for uid in unit_ids:
            row = _unit(conn, process, uid)
            for table in (s.validation_log, s.transform_log):
                conn.execute(
                    sa.update(table)
                    .where(table.c.unit_id == uid, table.c.status == s.FAIL)
                    .values(
                        status=s.PENDING,
                        retry_count=0,
                        updated_at=utcnow(),
                        message=f"re-queued by {actor}",
                    )
                )
            conn.execute(
                sa.update(s.ingestion_log)
                .where(s.ingestion_log.c.id == uid)
                .values(claimed_by=None, claimed_until=None)
            )
            _record(conn, process, uid, REQUEUE, actor, reason)
            done.append(f"unit {uid} ({row.path}) re-queued")
    return done


def skip(
    engine: sa.Engine,
    process: str,
    unit_ids: Sequence[int],
    *,
    actor: str,
    reason: str | None = None,
) -> list[str]:
    """The units will never load: marked SKIPPED, so runs stop reporting them as failed. Their
    staged rows stay in staging until the file lands again with new content."""
    s.create_all(engine)
    done: list[str] = []
    with engine.begin() as conn:
        for uid in unit_ids:
            row = _unit(conn, process, uid)
            conn.execute(
                sa.update(s.ingestion_log)
                .where(s.ingestion_log.c.id == uid)
                .values(state=s.SKIPPED, claimed_by=None, claimed_until=None)
            )
            _record(conn, process, uid, SKIP, actor, reason)
            done.append(f"unit {uid} ({row.path}) skipped")
    return done
