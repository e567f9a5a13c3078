"""Fixtures for the manifest runtime: a throwaway PostgreSQL for the session (scripts/pg-up.sh),
a fresh database per test on SQLite or PostgreSQL, and a landing folder with the sample orders."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "examples" / "landing" / "orders"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database for this test (a new PostgreSQL database per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.sqlite'}"
    return request.getfixturevalue("new_pg_database")()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """A private copy of the sample orders landing folder."""
    dest = tmp_path / "landing" / "orders"
    shutil.copytree(SAMPLES, dest, ignore=shutil.ignore_patterns("*.md"))
    return dest.parent


@pytest.fixture
def make_process(tmp_path: Path, landing: Path) -> Callable[..., dict[str, Any]]:
    """The resolved process dict, shaped like what the compiler's template emits."""

    def make(**over: Any) -> dict[str, Any]:
        process: dict[str, Any] = {
            "name": "orders",
            "source": {
                "kind": "files",
                "format": "csv",
                "landing_dir": str(landing),
                "glob": "orders/*.csv",
            },
            "sink": {"table": "orders", "strategy": "append"},
            "contract": {
                "enforcement": "strict",
                "columns": [
                    {"name": "order_id", "type": "integer", "nullable": False},
                    {"name": "customer", "type": "string", "nullable": True},
                    {
                        "name": "amount",
                        "type": "decimal",
                        "precision": 18,
                        "scale": 2,
                        "nullable": False,
                    },
                    {"name": "ordered_at", "type": "timestamp", "nullable": False},
                ],
            },
            "compatibility": {"on_widening": "alter"},
            "ddl": {"apply": True},
            "evidence_dir": str(tmp_path / "evidence"),
            "quarantine": {"dir": str(tmp_path / "quarantine"), "format": "csv"},
            "lease_seconds": 600,
            "retries": 0,
            "retry_backoff_seconds": 0,
        }
        for key, value in over.items():
            if key == "enforcement":
                process["contract"]["enforcement"] = value
            else:
                process[key] = value
        return process

    return make
