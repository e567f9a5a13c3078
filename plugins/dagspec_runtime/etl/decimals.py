"""Exact decimals on every backend.

PostgreSQL has NUMERIC(p,s). SQLite has no decimal type: a column declared NUMERIC gets REAL
affinity and `1234567890123456.78` comes back as `1.23456789012346e+15`. So on SQLite a contract
decimal is stored as its canonical text (quantized to the column's scale, e.g. `0.10`) in a
column declared `DECIMAL_TEXT(p,s)`: the name gives the column TEXT affinity (SQLite never turns
the text into a float) and lets reflection read precision and scale back, so the compatibility
gate still sees `decimal(p,s)`. Values go in and come out as `Decimal`, digit for digit.

Why text and not scaled integers: text has no 18-digit ceiling, and widening the scale needs no
rewrite of stored values (`12.50` is still exactly 12.50 under scale 4). The price: SQL `SUM`
over these columns would go through float, so the mart rebuild on SQLite aggregates in Python
with `Decimal` (see load.publish).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import base as sqlite_base

SQLITE_TYPE = "DECIMAL_TEXT"


def _as_decimal(value: Any) -> Decimal:
    # Through str, never float: a float that reached here (legacy REAL column) keeps its repr.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _quantize(value: Decimal, scale: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-scale)) if scale else value.quantize(Decimal(1))


class DecimalText(sa.types.UserDefinedType[Decimal]):
    """SQLite storage of decimal(p,s): canonical text, `Decimal` in and out."""

    cache_ok = True

    def __init__(self, precision: int = 38, scale: int = 0) -> None:
        self.precision = precision
        self.scale = scale

    def get_col_spec(self, **_kw: Any) -> str:
        return f"{SQLITE_TYPE}({self.precision},{self.scale})"

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


# Reflection of a SQLite table maps the declared type name back to DecimalText(p, s).
sqlite_base.ischema_names.setdefault(SQLITE_TYPE, DecimalText)
