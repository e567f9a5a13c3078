"""Contract column types: value coercion, JSON round trip, SQL types, and which type changes
are safe (widening) or lossy (narrowing)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from dagspec_runtime.etl.config import Column
from dagspec_runtime.etl.decimals import DecimalText, ExactDecimal

_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


def coerce(col: Column, value: Any) -> Any:
    """The value as the contract type, or ValueError with a reason a human can act on."""
    if value is None or (isinstance(value, str) and value.strip() == "" and col.type != "string"):
        if not col.nullable:
            raise ValueError(f"{col.name}: null not allowed")
        return None
    try:
        return _COERCE[col.type](col, value)
    except (ValueError, InvalidOperation, TypeError) as exc:
        raise ValueError(f"{col.name}: {exc}") from None


def _show(v: Any) -> str:
    """A value as the source has it: numbers with their own digits, text quoted."""
    return str(v) if isinstance(v, Decimal | int) and not isinstance(v, bool) else repr(v)


def _string(_col: Column, v: Any) -> str:
    return v if isinstance(v, str) else str(v)


def _integer(_col: Column, v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError(f"not an integer: {_show(v)}")
    if isinstance(v, int):
        return v
    if isinstance(v, float | Decimal) and v == int(v):
        return int(v)
    text = str(v).strip()
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"not an integer: {_show(v)}") from None


def _decimal(col: Column, v: Any) -> Decimal:
    if isinstance(v, bool):
        raise ValueError(f"not a decimal: {_show(v)}")
    try:
        d = Decimal(str(v).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal: {_show(v)}") from None
    if not d.is_finite():
        raise ValueError(f"not a finite decimal: {_show(v)}")
    p, s = col.precision or 38, col.scale or 0
    q = d.quantize(Decimal(1).scaleb(-s)) if s else d.quantize(Decimal(1))
    if q != d:
        raise ValueError(f"{_show(v)} has more than {s} decimal places")
    if len(q.as_tuple().digits) - max(0, -q.as_tuple().exponent) > p - s and q != 0:
        raise ValueError(f"{_show(v)} does not fit decimal({p},{s})")
    return q


def _boolean(_col: Column, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {_show(v)}")


def _date(_col: Column, v: Any) -> date:
    if isinstance(v, datetime):
        raise ValueError(f"not a date (has a time): {_show(v)}")
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v).strip())
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {_show(v)}") from None


def _timestamp(_col: Column, v: Any) -> datetime:
    if isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    try:
        return datetime.fromisoformat(str(v).strip())
    except ValueError:
        raise ValueError(f"not a timestamp (ISO 8601): {_show(v)}") from None


_COERCE = {
    "string": _string,
    "integer": _integer,
    "decimal": _decimal,
    "boolean": _boolean,
    "date": _date,
    "timestamp": _timestamp,
}


def to_json(value: Any) -> Any:
    """Typed value → JSON-safe value (decimals as strings keep their scale)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def from_json(col: Column, value: Any) -> Any:
    """Inverse of to_json for a value that already passed the contract."""
    if value is None:
        return None
    return _COERCE[col.type](col, value)


def sql_type(col: Column) -> sa.types.TypeEngine[Any]:
    if col.type == "string":
        return sa.Text()
    if col.type == "integer":
        return sa.BigInteger()
    if col.type == "decimal":
        return ExactDecimal(col.precision or 38, col.scale or 0)
    if col.type == "boolean":
        return sa.Boolean()
    if col.type == "date":
        return sa.Date()
    return sa.DateTime()


def from_sql_type(name: str, t: sa.types.TypeEngine[Any], nullable: bool) -> Column:
    """A reflected target column described in contract terms."""
    if isinstance(t, DecimalText):
        kind, p, s = "decimal", t.precision, t.scale
    elif isinstance(t, sa.Boolean):
        kind, p, s = "boolean", None, None
    elif isinstance(t, sa.Integer):
        kind, p, s = "integer", None, None
    elif isinstance(t, sa.Float):
        kind, p, s = "decimal", 53, None
    elif isinstance(t, sa.Numeric):
        kind, p, s = "decimal", t.precision or 38, t.scale or 0
    elif isinstance(t, sa.DateTime):
        kind, p, s = "timestamp", None, None
    elif isinstance(t, sa.Date):
        kind, p, s = "date", None, None
    else:
        kind, p, s = "string", None, None
    return Column(name=name, type=kind, nullable=nullable, precision=p, scale=s)


def change_kind(target: Column, wanted: Column) -> str:
    """same | widen | narrow: what changing the target column to the contract type means.

    Widening never loses a stored value; anything else (including unrelated types) is treated
    as narrowing and refused before finalize.
    """
    if target.type == wanted.type:
        if target.type != "decimal":
            return "same"
        tp, ts = target.precision or 38, target.scale or 0
        wp, ws = wanted.precision or 38, wanted.scale or 0
        if (tp, ts) == (wp, ws):
            return "same"
        return "widen" if ws >= ts and wp - ws >= tp - ts else "narrow"
    if wanted.type == "string":
        return "widen"
    if target.type == "integer" and wanted.type == "decimal":
        return "widen" if (wanted.precision or 38) - (wanted.scale or 0) >= 19 else "narrow"
    if target.type == "date" and wanted.type == "timestamp":
        return "widen"
    return "narrow"
