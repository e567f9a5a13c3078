"""Meta-log bookkeeping in our own database (seed 002): what was ingested, validated, staged,
transformed and published, so manifest runs are idempotent and resumable.

SQLAlchemy Core only, so the same code runs on the embedded SQLite default and on PostgreSQL.
"""

from __future__ import annotations

from dagspec_runtime.metalog.engine import engine_for, resolve_meta_url
from dagspec_runtime.metalog.ledger import Ledger
from dagspec_runtime.metalog.schema import (
    FAIL,
    PASS,
    PENDING,
    create_all,
    metadata,
)

__all__ = [
    "FAIL",
    "PASS",
    "PENDING",
    "Ledger",
    "create_all",
    "engine_for",
    "metadata",
    "resolve_meta_url",
]
