"""Meta-database tables of reduction runs (seed 004's model, trimmed to what the runtime uses).

Kept in their own MetaData next to the manifest meta-log: the same database may hold both, and
neither package creates the other's tables.
"""

from __future__ import annotations

import sqlalchemy as sa

COMPLETED = "COMPLETED"
FAILED = "FAILED"

metadata = sa.MetaData()

reduction_software = sa.Table(
    "reduction_software",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("image", sa.String(500)),
    sa.Column("registered_at", sa.DateTime, nullable=False),
)

reduction_software_version = sa.Table(
    "reduction_software_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("software_id", sa.Integer, sa.ForeignKey("reduction_software.id"), nullable=False),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("image_ref", sa.String(600)),
    sa.Column("is_latest", sa.Boolean, nullable=False, default=False),
    sa.Column("registered_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("software_id", "version", name="uq_software_version"),
)

raw_data_package = sa.Table(
    "raw_data_package",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("data_grouping", sa.String(200), nullable=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("checksum", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("metadata_json", sa.Text, nullable=False),
    sa.Column("first_seen_at", sa.DateTime, nullable=False),
    # A changed package is a new row: old results keep their lineage to what they really read.
    sa.UniqueConstraint("path", "checksum", name="uq_raw_package_content"),
)

executed_reduction_step = sa.Table(
    "executed_reduction_step",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("step", sa.String(200), nullable=False),
    sa.Column("sub_group_key", sa.String(500), nullable=False),
    sa.Column(
        "software_version_id",
        sa.Integer,
        sa.ForeignKey("reduction_software_version.id"),
        nullable=False,
    ),
    sa.Column("software_version", sa.String(100), nullable=False),
    sa.Column("version_policy", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("input_fingerprint", sa.String(64), nullable=False),
    sa.Column("output_dir", sa.String(1000), nullable=False),
    sa.Column("hpc_job_id", sa.String(50)),
    sa.Column("execution_command", sa.Text),
    sa.Column("command", sa.Text),
    sa.Column("processing_time_s", sa.Float),
    sa.Column("peak_memory_gb", sa.Float),
    sa.Column("cpu_hours", sa.Float),
    sa.Column("dag_id", sa.String(250)),
    sa.Column("run_id", sa.String(250)),
    sa.Column("task_id", sa.String(250)),
    sa.Column("map_index", sa.Integer),
    sa.Column("try_number", sa.Integer),
    sa.Column("finished_at", sa.DateTime, nullable=False),
    sa.Index("ix_executed_step_lookup", "pipeline", "step", "sub_group_key", "input_fingerprint"),
)

data_product = sa.Table(
    "data_product",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "executed_reduction_step_id",
        sa.Integer,
        sa.ForeignKey("executed_reduction_step.id"),
        nullable=False,
    ),
    sa.Column("data_product_type", sa.String(16), nullable=False),
    sa.Column("file_path", sa.String(1000), nullable=False),
    sa.Column("file_size", sa.BigInteger, nullable=False),
    sa.Column("checksum", sa.String(64), nullable=False),
    sa.Column("metadata_json", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# Each row links a product to one thing that went into it: a raw package or an upstream product.
data_product_lineage = sa.Table(
    "data_product_lineage",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("data_product_id", sa.Integer, sa.ForeignKey("data_product.id"), nullable=False),
    sa.Column("raw_data_package_id", sa.Integer, sa.ForeignKey("raw_data_package.id")),
    sa.Column("parent_data_product_id", sa.Integer, sa.ForeignKey("data_product.id")),
    sa.CheckConstraint(
        "(raw_data_package_id IS NULL) <> (parent_data_product_id IS NULL)",
        name="ck_lineage_one_source",
    ),
)


def create_all(engine: sa.Engine) -> None:
    """Idempotent; concurrent callers on PostgreSQL queue on an advisory lock."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('dagspec-reduction'))"))
        metadata.create_all(conn, checkfirst=True)
