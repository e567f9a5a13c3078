"""Schema evolution on both backends, as a matrix of contract type changes: a widening alters the
target, staging and mart so every new digit arrives (and old rows keep their values); a
narrowing is refused at the compatibility gate, also after an earlier widening, and changes
nothing."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagspec_runtime.etl import GateRefused, run_process
from dagspec_runtime.metalog import engine_for

pytestmark = pytest.mark.postgres

D18_2 = {"type": "decimal", "precision": 18, "scale": 2}
D22_4 = {"type": "decimal", "precision": 22, "scale": 4}
D18_4 = {"type": "decimal", "precision": 18, "scale": 4}
D10_2 = {"type": "decimal", "precision": 10, "scale": 2}
D38_0 = {"type": "decimal", "precision": 38, "scale": 0}
INT, STR, DATE, TS = ({"type": t} for t in ("integer", "string", "date", "timestamp"))

# (before, value before, after, value after, expected after-value read back or None: refused)
MATRIX = [
    (D18_2, "3.48", D22_4, "123456789012345678.4845", Decimal("123456789012345678.4845")),
    (INT, "7", D38_0, "100000000000000000000000000000", Decimal(10**29)),
    (INT, "7", STR, "seven", "seven"),
    (DATE, "2026-11-01", TS, "2026-11-02T09:30:00", datetime(2026, 11, 2, 9, 30)),
    (D18_2, "3.48", D18_4, "1.2345", None),
    (D18_2, "3.48", D10_2, "1.23", None),
    (TS, "2026-11-01T09:30:00", DATE, "2026-11-02", None),
    (STR, "x", INT, "1", None),
]
OLD = {"3.48": Decimal("3.48"), "7": 7, "2026-11-01": date(2026, 11, 1)}


def _process(tmp: Path, landing: Path, v: dict[str, Any]) -> dict[str, Any]:
    numeric = v["type"] in ("integer", "decimal")
    return {
        "name": "evolve",
        "source": {"kind": "files", "format": "csv", "landing_dir": str(landing), "glob": "*"},
        "sink": {"table": "evolve", "strategy": "append"},
        "contract": {
            "enforcement": "strict",
            "columns": [
                {"name": "id", "type": "integer", "nullable": False},
                {"name": "g", "type": "string"},
                {"name": "v", **v},
            ],
        },
        **(
            {"publish": {"table": "evolve_mart", "group_by": ["g"], "sum": ["v"], "avg": ["v"]}}
            if numeric
            else {}
        ),
        "evidence_dir": str(tmp / "evidence"),
        "quarantine": {"dir": str(tmp / "quarantine")},
        "lease_seconds": 600,
    }


def _rows(url: str, table: str = "evolve") -> list[dict[str, Any]]:
    engine = engine_for(url)
    t = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(t))]


@pytest.mark.parametrize(("before", "v1", "after", "v2", "expected"), MATRIX)
def test_type_change(
    db_url: str,
    tmp_path: Path,
    before: dict[str, Any],
    v1: str,
    after: dict[str, Any],
    v2: str,
    expected: Any,
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "1.csv").write_text(f"id,g,v\n1,a,{v1}\n")
    run_process(_process(tmp_path, landing, before), "r1", meta_url=db_url, run_root=tmp_path)
    (landing / "2.csv").write_text(f"id,g,v\n2,a,{v2}\n")
    if expected is None:
        with pytest.raises(GateRefused, match="unsafe type narrowing refused: v: "):
            run_process(
                _process(tmp_path, landing, after), "r2", meta_url=db_url, run_root=tmp_path
            )
        assert [r["id"] for r in _rows(db_url)] == [1]
        return
    run_process(_process(tmp_path, landing, after), "r2", meta_url=db_url, run_root=tmp_path)
    got = {r["id"]: r["v"] for r in _rows(db_url)}
    assert got[2] == expected and type(got[2]) is type(expected)
    # the earlier row keeps its value, now in the wider type
    old = {"string": v1, "timestamp": datetime(2026, 11, 1)}.get(after["type"], OLD[v1])
    assert got[1] == old
    if after["type"] == "decimal":
        (mart,) = _rows(db_url, "evolve_mart")
        assert Fraction(mart["v"]) == Fraction(OLD[v1]) + Fraction(expected)
        assert mart["v"].as_tuple().exponent == -after["scale"]

    # narrowing back, after the widening: refused, nothing changes
    (landing / "3.csv").write_text(f"id,g,v\n3,a,{v1}\n")
    with pytest.raises(GateRefused, match="unsafe type narrowing refused"):
        run_process(_process(tmp_path, landing, before), "r3", meta_url=db_url, run_root=tmp_path)
    assert sorted(r["id"] for r in _rows(db_url)) == [1, 2]
