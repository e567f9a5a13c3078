"""Runtime data contract: split rows into valid (typed) and rejected (with a reason each)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dagspec_runtime.etl.coltypes import coerce
from dagspec_runtime.etl.config import Column
from dagspec_runtime.etl.sources import ROW_ERROR


@dataclass
class Verdict:
    good: list[dict[str, Any]] = field(default_factory=list)
    bad: list[dict[str, Any]] = field(default_factory=list)


def check_rows(columns: Iterable[Column], rows: Iterable[dict[str, Any]]) -> Verdict:
    """Every contract column is coerced; all reasons of a row are kept, joined by '; '."""
    cols = list(columns)
    verdict = Verdict()
    for row in rows:
        if ROW_ERROR in row:
            verdict.bad.append({"row": row, "reason": row[ROW_ERROR]})
            continue
        typed: dict[str, Any] = {}
        reasons: list[str] = []
        for col in cols:
            if col.name not in row and not col.nullable:
                reasons.append(f"{col.name}: missing column")
                continue
            try:
                typed[col.name] = coerce(col, row.get(col.name))
            except ValueError as exc:
                reasons.append(str(exc))
        if reasons:
            verdict.bad.append({"row": row, "reason": "; ".join(reasons)})
        else:
            verdict.good.append(typed)
    return verdict
