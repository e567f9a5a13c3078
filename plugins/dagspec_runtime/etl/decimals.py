"""Exact decimals on every backend.

PostgreSQL has NUMERIC(p,s). SQLite has no decimal type: a column declared NUMERIC gets REAL
affinity and `1234567890123456.78` comes back as `1.23456789012346e+15`. So on SQLite a contract
decimal is stored as its canonical text (quantized to the column's scale, e.g. `0.10`) in a
column declared `DECIMAL_TEXT(p,s)`: the name gives the column TEXT affinity (SQLite never turns
the text into a float) and lets reflection read precision and scale back, so the compatibility
gate still sees `decimal(p,s)`. Values go in and come out as `Decimal`, digit for digit.

Why text and not scaled integers: text has no 18-digit ceiling, and widening the scale needs no
rewrite of stored values (`12.50` is still exactly 12.50 under scale 4). Text alone would compare
and sort as text (`'100.00' < '9'`), so the column carries `COLLATE DAGSPEC_DECIMAL`, a collation
that compares the digits as numbers: `amount > 9`, `ORDER BY amount`, `MIN`/`MAX` and indexes
are numeric. The collation is registered on every SQLite connection opened in a process that
imports dagspec_runtime (a pool `connect` hook); the sqlite3 shell needs it registered too, or it
refuses such queries with "no such collation sequence" (it never answers them wrongly). SQL
`SUM` would go through float, so the mart rebuild on SQLite aggregates in Python with `Decimal`
in the wide context of coltypes.EXACT (see load.publish).

Timestamps with a zone (`timestamptz`) are `timestamptz` on PostgreSQL and UTC text in a
`TIMESTAMP_UTC_TEXT` column on SQLite; both read back as aware UTC datetimes.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import (
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import base as sqlite_base

# Sums of up to 2^63 values of 38 digits need 57; 100 leaves room and traps anything inexact.
EXACT = Context(
    prec=100, Emax=10**6, Emin=-(10**6), traps=[InvalidOperation, DivisionByZero, Overflow, Inexact]
)
SQLITE_TYPE = "DECIMAL_TEXT"
COLLATION = "DAGSPEC_DECIMAL"
SQLITE_UTC_TYPE = "TIMESTAMP_UTC_TEXT"


def compare_decimal_text(a: str, b: str) -> int:
    """The DAGSPEC_DECIMAL collation: numeric order; text that is not a number sorts after
    every number, in text order (so the collation is a total order)."""
    try:
        x: Any = (0, Decimal(a))
    except (InvalidOperation, ValueError):
        x = (1, a)
    try:
        y: Any = (0, Decimal(b))
    except (InvalidOperation, ValueError):
        y = (1, b)
    if x[0] == 0 and y[0] == 0 and not (x[1].is_finite() and y[1].is_finite()):
        x, y = (1, a), (1, b)  # NaN has no order: fall back to text
    return (x > y) - (x < y)


def _register_collation(dbapi_conn: Any, _record: Any) -> None:
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.create_collation(COLLATION, compare_decimal_text)


sa.event.listen(sa.pool.Pool, "connect", _register_collation)


def _as_decimal(value: Any) -> Decimal:
    # Through str, never float: a float that reached here (legacy REAL column) keeps its repr.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _quantize(value: Decimal, scale: int) -> Decimal:
    with localcontext(EXACT):
        return value.quantize(Decimal(1).scaleb(-scale))


class DecimalText(sa.types.UserDefinedType[Decimal]):
    """SQLite storage of decimal(p,s): canonical text, `Decimal` in and out."""

    cache_ok = True

    def __init__(self, precision: int = 38, scale: int = 0) -> None:
        self.precision = precision
        self.scale = scale

    def get_col_spec(self, **_kw: Any) -> str:
        return f"{SQLITE_TYPE}({self.precision},{self.scale}) COLLATE {COLLATION}"

    def bind_processor(self, dialect: Any) -> Any:
        scale = self.scale

        def process(value: Any) -> str | None:
            if value is None:
                return None
            return str(_quantize(_as_decimal(value), scale))

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        def process(value: Any) -> Decimal | None:
            return None if value is None else _as_decimal(value)

        return process

    @property
    def python_type(self) -> type:
        return Decimal


class ExactDecimal(sa.types.TypeDecorator[Decimal]):
    """decimal(p,s) of a contract: NUMERIC(p,s) on PostgreSQL, DecimalText on SQLite."""

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int = 38, scale: int = 0) -> None:
        super().__init__(precision, scale, asdecimal=True)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Any) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(DecimalText(self.precision, self.scale))
        return dialect.type_descriptor(sa.Numeric(self.precision, self.scale, asdecimal=True))


class _UtcText(sa.types.UserDefinedType[datetime]):
    """SQLite storage of timestamptz: ISO text of the UTC instant (sorts in time order)."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return SQLITE_UTC_TYPE

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            return (
                value.astimezone(UTC)
                .replace(tzinfo=None)
                .isoformat(sep=" ", timespec="microseconds")
            )

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        def process(value: Any) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

        return process

    @property
    def python_type(self) -> type:
        return datetime


class UtcTimestamp(sa.types.TypeDecorator[datetime]):
    """timestamptz of a contract: aware UTC datetimes in and out on both backends."""

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def load_dialect_impl(self, dialect: Any) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_UtcText())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC)


# Reflection of a SQLite table maps the declared type names back to the contract types.
sqlite_base.ischema_names.setdefault(SQLITE_TYPE, DecimalText)
sqlite_base.ischema_names.setdefault(SQLITE_UTC_TYPE, UtcTimestamp)
