"""Table definitions of the meta-log. Unique constraints are the claim guards: a row that already
exists cannot be inserted twice, even by two concurrent runs."""

from __future__ import annotations

import sqlalchemy as sa

PENDING = "PENDING"
PASS = "PASS"
FAIL = "FAIL"

# ingestion_log.state: where a unit (a landing file or a SQL batch) stands as a whole.
NEW = "NEW"
COMMITTED = "COMMITTED"
SUPERSEDED = "SUPERSEDED"
SKIPPED = "SKIPPED"  # an operator decided the unit will never load (`dagspec meta skip`)

metadata = sa.MetaData()

_now = sa.DateTime()

ingestion_log = sa.Table(
    "ingestion_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("process", sa.String(200), nullable=False),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False, default=0),
    sa.Column("state", sa.String(16), nullable=False, default=NEW),
    sa.Column("watermark", sa.String(100)),
    sa.Column("claimed_by", sa.String(250)),
    sa.Column("claimed_until", _now),
    sa.Column("ingested_at", _now, nullable=False),
    sa.Column("committed_at", _now),
    sa.Column("committed_by", sa.String(250)),
    sa.UniqueConstraint("process", "path", "content_hash", name="uq_ingestion_unit"),
)


def _step_log(name: str) -> sa.Table:
    """One row per unit per step; status moves PENDING → PASS | FAIL, updated in place."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("unit_id", sa.Integer, sa.ForeignKey("ingestion_log.id"), nullable=False),
        sa.Column("process", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("status", sa.String(8), nullable=False, default=PENDING),
        sa.Column("retry_count", sa.Integer, nullable=False, default=0),
        sa.Column("rows_in", sa.Integer),
        sa.Column("rows_out", sa.Integer),
        sa.Column("message", sa.Text),
        sa.Column("updated_at", _now, nullable=False),
        sa.UniqueConstraint("unit_id", name=f"uq_{name}_unit"),
    )


validation_log = _step_log("validation_log")
stage_load_log = _step_log("stage_load_log")
transform_log = _step_log("transform_log")

publish_log = sa.Table(
    "publish_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("process", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("mart", sa.String(200), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("units", sa.Integer, nullable=False, default=0),
    sa.Column("rows_out", sa.Integer),
    sa.Column("updated_at", _now, nullable=False),
    sa.UniqueConstraint("process", "run_id", name="uq_publish_run"),
)

load_audit = sa.Table(
    "load_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("process", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("strategy", sa.String(16), nullable=False),
    sa.Column("units", sa.Integer, nullable=False),
    sa.Column("rows_loaded", sa.Integer, nullable=False),
    sa.Column("rows_quarantined", sa.Integer, nullable=False),
    sa.Column("evidence_path", sa.String(1000), nullable=False),
    sa.Column("evidence_sha256", sa.String(64), nullable=False),
    sa.Column("committed_at", _now, nullable=False),
    sa.UniqueConstraint("process", "run_id", name="uq_load_audit_run"),
)

# Source state (watermarks for SQL sources, counters for file sources); advanced last.
process_state = sa.Table(
    "process_state",
    metadata,
    sa.Column("process", sa.String(200), primary_key=True),
    sa.Column("watermark", sa.String(100)),
    sa.Column("units_committed", sa.Integer, nullable=False, default=0),
    sa.Column("last_run_id", sa.String(250)),
    sa.Column("updated_at", _now, nullable=False),
)

# What operators did to units (`dagspec meta requeue|skip`): who, when, why. Append-only.
unit_actions = sa.Table(
    "unit_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("process", sa.String(200), nullable=False),
    sa.Column("unit_id", sa.Integer, sa.ForeignKey("ingestion_log.id"), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("at", _now, nullable=False),
)

STEP_LOGS = {"validation": validation_log, "stage": stage_load_log, "transform": transform_log}


def create_all(engine: sa.Engine) -> None:
    """Idempotent: safe to call from every task; concurrent callers on PostgreSQL queue on an
    advisory lock instead of racing on the catalog."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('dagspec-metalog'))"))
        metadata.create_all(conn, checkfirst=True)
