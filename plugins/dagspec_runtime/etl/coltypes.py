"""The contract's type system, in one place: for each contract type, how a value is parsed from
CSV text or a JSON value, validated, stored (SQLite and PostgreSQL), read back, compared and
aggregated.

| type          | accepted text                          | stored (PostgreSQL / SQLite)           |
|---------------|----------------------------------------|----------------------------------------|
| string        | anything; `max_length` characters      | text / text                            |
| integer       | `[+-]digits`, -2^63 .. 2^63-1          | bigint / integer                       |
| decimal(p,s)  | `[+-]digits[.digits][e±n]`, p <= 38    | numeric(p,s) / DECIMAL_TEXT, numeric   |
|               |                                        | collation (see decimals.py)            |
| boolean       | true/false/t/f/1/0/yes/no/y/n          | boolean / integer 0, 1                 |
| date          | ISO 8601 date                          | date / ISO text                        |
| timestamp     | ISO 8601; an offset is converted to    | timestamp / ISO text, both UTC         |
|               | UTC and dropped                        |                                        |
| timestamptz   | ISO 8601 with an offset (or `Z`)       | timestamptz / TIMESTAMP_UTC_TEXT, both |
|               |                                        | UTC; read back as aware UTC datetimes  |

Decimal arithmetic runs in EXACT, a context of 100 digits that traps every inexact step, never
in Python's default 28-digit context (which refuses or rounds decimal(38,s) values).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import (
    ROUND_HALF_EVEN,
    Decimal,
    Inexact,
    InvalidOperation,
    localcontext,
)
from typing import Any

import sqlalchemy as sa

from dagspec_runtime.etl.config import Column
from dagspec_runtime.etl.decimals import EXACT, DecimalText, ExactDecimal, UtcTimestamp

_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_DEC_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
AVG_EXTRA_SCALE = 6  # an average has the column's scale + 6 digits, rounded half to even


def coerce(col: Column, value: Any) -> Any:
    """The value as the contract type, or ValueError with a reason a human can act on."""
    if value is None or (isinstance(value, str) and value.strip() == "" and col.type != "string"):
        if not col.nullable:
            raise ValueError(f"{col.name}: null not allowed")
        return None
    try:
        return _COERCE[col.type](col, value)
    except (ValueError, ArithmeticError, TypeError) as exc:
        raise ValueError(f"{col.name}: {exc}") from None


def _show(v: Any) -> str:
    """A value as the source has it: numbers with their own digits, text quoted."""
    return str(v) if isinstance(v, Decimal | int) and not isinstance(v, bool) else repr(v)


def _string(col: Column, v: Any) -> str:
    if isinstance(v, dict | list):
        raise ValueError(f"not a string: {_show(v)}")
    text = v if isinstance(v, str) else str(v)
    if col.max_length is not None and len(text) > col.max_length:
        shown = repr(text) if len(text) <= 200 else repr(text[:200]) + "..."
        raise ValueError(f"{shown} has {len(text)} characters, over max_length {col.max_length}")
    return text


def _integer(_col: Column, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | Decimal | str):
        raise ValueError(f"not an integer: {_show(v)}")
    if isinstance(v, int):
        n = v
    elif isinstance(v, Decimal):
        if not v.is_finite() or v != v.to_integral_value():
            raise ValueError(f"not an integer: {_show(v)}")
        n = int(v)
    elif _INT_TEXT.fullmatch(v.strip()):
        n = int(v.strip())
    else:
        raise ValueError(f"not an integer: {_show(v)}")
    if not INT_MIN <= n <= INT_MAX:
        raise ValueError(f"{_show(v)} is outside the integer range -2^63 .. 2^63-1")
    return n


def _decimal(col: Column, v: Any) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, int | Decimal | str):
        raise ValueError(f"not a decimal: {_show(v)}")
    if isinstance(v, str):
        if not _DEC_TEXT.fullmatch(v.strip()):
            raise ValueError(f"not a decimal: {_show(v)}")
        d = Decimal(v.strip())
    else:
        d = Decimal(v)
    if not d.is_finite():
        raise ValueError(f"not a finite decimal: {_show(v)}")
    p, s = col.precision or 38, col.scale or 0
    with localcontext(EXACT):
        try:
            q = d.quantize(Decimal(1).scaleb(-s))
        except Inexact:
            raise ValueError(f"{_show(v)} has more than {s} decimal places") from None
        except InvalidOperation:
            raise ValueError(f"{_show(v)} does not fit decimal({p},{s})") from None
    if q != 0 and q.adjusted() >= p - s:
        raise ValueError(f"{_show(v)} does not fit decimal({p},{s})")
    return q


def _boolean(_col: Column, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if not isinstance(v, int | Decimal | str):
        raise ValueError(f"not a boolean: {_show(v)}")
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
    if not isinstance(v, str):
        raise ValueError(f"not a date (YYYY-MM-DD): {_show(v)}")
    try:
        return date.fromisoformat(v.strip())
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {_show(v)}") from None


def _parse_ts(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    if not isinstance(v, str):
        raise ValueError(f"not a timestamp (ISO 8601): {_show(v)}")
    try:
        return datetime.fromisoformat(v.strip())
    except ValueError:
        raise ValueError(f"not a timestamp (ISO 8601): {_show(v)}") from None


def _timestamp(_col: Column, v: Any) -> datetime:
    """Naive as given; with an offset, converted to UTC (the same on both backends)."""
    ts = _parse_ts(v)
    if ts.tzinfo is not None:
        try:
            ts = ts.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{_show(v)} is out of range in UTC") from None
    return ts.replace(tzinfo=None)


def _timestamptz(_col: Column, v: Any) -> datetime:
    """An instant: the offset is required, the value is kept as UTC."""
    ts = _parse_ts(v)
    if ts.tzinfo is None:
        raise ValueError(f"{_show(v)} has no UTC offset (add Z or +hh:mm)")
    try:
        return ts.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{_show(v)} is out of range in UTC") from None


_COERCE = {
    "string": _string,
    "integer": _integer,
    "decimal": _decimal,
    "boolean": _boolean,
    "date": _date,
    "timestamp": _timestamp,
    "timestamptz": _timestamptz,
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
    if col.type == "timestamptz":
        return UtcTimestamp()
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
    elif isinstance(t, UtcTimestamp):
        kind, p, s = "timestamptz", None, None
    elif isinstance(t, sa.DateTime):
        kind, p, s = ("timestamptz" if t.timezone else "timestamp"), None, None
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


# -- aggregation ------------------------------------------------------------------------------
def exact_sum(values: Iterable[Decimal | int | None]) -> Decimal | int | None:
    """The sum of the non-null values in EXACT (no rounding at 28 digits); None when none."""
    total: Decimal | int | None = None
    with localcontext(EXACT):
        for v in values:
            if v is not None:
                total = v if total is None else total + v
    return total


def exact_avg(total: Decimal | int | None, count: int, scale: int) -> Decimal | None:
    """sum / count rounded half to even at `scale` + AVG_EXTRA_SCALE digits (both backends)."""
    if total is None or count == 0:
        return None
    ctx = EXACT.copy()
    ctx.traps[Inexact] = False
    with localcontext(ctx):
        q = Decimal(total) / Decimal(count)
        return q.quantize(Decimal(1).scaleb(-(scale + AVG_EXTRA_SCALE)), rounding=ROUND_HALF_EVEN)
