"""The resolved process config the compiler emits as a literal dict, parsed and checked once.

Why a dataclass and not the raw dict: every gate reads the same fields, and a typo in the
template should fail at DAG parse time, not in the eighth task.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TYPES = ("string", "integer", "decimal", "boolean", "date", "timestamp", "timestamptz")
STRATEGIES = ("append", "replace", "merge")
FORMATS = ("csv", "json", "jsonl", "parquet")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    precision: int | None = None
    scale: int | None = None
    max_length: int | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Column:
        col = cls(
            name=str(raw["name"]),
            type=str(raw["type"]),
            nullable=bool(raw.get("nullable", True)),
            precision=raw.get("precision"),
            scale=raw.get("scale"),
            max_length=raw.get("max_length"),
        )
        if col.type not in TYPES:
            raise ValueError(f"column {col.name!r}: type must be one of {TYPES}, got {col.type!r}")
        if col.type == "decimal":
            p, sc = col.precision or 38, col.scale if col.scale is not None else 0
            if not 0 <= sc <= p:
                raise ValueError(f"column {col.name!r}: need 0 <= scale <= precision")
            if not 1 <= p <= 38:
                raise ValueError(f"column {col.name!r}: precision must be 1..38, got {p}")
            col = cls(col.name, col.type, col.nullable, p, sc, col.max_length)
        return col

    def describe(self) -> str:
        if self.type == "decimal":
            return f"decimal({self.precision},{self.scale})"
        return self.type


@dataclass(frozen=True)
class Source:
    kind: str  # files | table
    format: str = "csv"
    landing_dir: str = ""
    glob: str = "*"
    delimiter: str = ","
    encoding: str = "utf-8"
    conn_id: str | None = None
    table: str = ""
    watermark_column: str | None = None


@dataclass(frozen=True)
class Publish:
    table: str
    group_by: tuple[str, ...]
    sums: tuple[str, ...] = ()
    avgs: tuple[str, ...] = ()
    count_as: str = "row_count"


@dataclass(frozen=True)
class ProcessConfig:
    name: str
    source: Source
    target: str
    strategy: str
    columns: tuple[Column, ...]
    enforcement: str = "strict"
    merge_key: tuple[str, ...] = ()
    sink_conn_id: str | None = None
    on_widening: str = "alter"
    ddl_apply: bool = True
    evidence_dir: str = ""
    quarantine_dir: str = ""
    quarantine_format: str = "csv"
    lease_seconds: float = 60.0
    transform_retries: int = 1
    max_units_per_run: int = 0
    retries: int = 0
    retry_backoff_seconds: float = 0.0
    publish: Publish | None = None
    keep_run_data: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> ProcessConfig:
        """Check the literal the template emitted; errors name the field."""
        src = raw["source"]
        kind = src.get("kind", "files")
        if kind not in ("files", "table"):
            raise ValueError(f"source.kind must be files|table, got {kind!r}")
        source = Source(
            kind=kind,
            format=src.get("format", "csv"),
            landing_dir=str(_path(src.get("landing_dir", ""))) if kind == "files" else "",
            glob=src.get("glob", "*"),
            delimiter=src.get("delimiter", ","),
            encoding=src.get("encoding", "utf-8"),
            conn_id=src.get("conn_id"),
            table=src.get("table", ""),
            watermark_column=src.get("watermark_column"),
        )
        if kind == "files" and source.format not in FORMATS:
            raise ValueError(f"source.format must be one of {FORMATS}, got {source.format!r}")
        try:
            codecs.lookup(source.encoding)
        except LookupError:
            raise ValueError(
                f"source.encoding {source.encoding!r} is not a known encoding"
            ) from None
        if kind == "table" and not source.table:
            raise ValueError("source.table is required for a table source")
        sink = raw["sink"]
        contract = raw["contract"]
        columns = tuple(Column.parse(c) for c in contract["columns"])
        if not columns:
            raise ValueError("contract.columns must not be empty")
        strategy = sink.get("strategy", "append")
        if strategy not in STRATEGIES:
            raise ValueError(f"sink.strategy must be one of {STRATEGIES}, got {strategy!r}")
        merge_key = tuple(sink.get("merge_key", ()))
        if strategy == "merge" and not merge_key:
            raise ValueError("sink.merge_key is required for strategy merge")
        names = {c.name for c in columns}
        for k in merge_key:
            if k not in names:
                raise ValueError(f"sink.merge_key column {k!r} is not in the contract")
        enforcement = contract.get("enforcement", "strict")
        if enforcement not in ("strict", "quarantine"):
            raise ValueError("contract.enforcement must be strict|quarantine")
        compat = raw.get("compatibility", {})
        quarantine = raw.get("quarantine", {})
        pub = raw.get("publish")
        return cls(
            name=str(raw["name"]),
            source=source,
            target=str(sink["table"]),
            strategy=strategy,
            columns=columns,
            enforcement=enforcement,
            merge_key=merge_key,
            sink_conn_id=sink.get("conn_id"),
            on_widening=compat.get("on_widening", "alter"),
            ddl_apply=bool(raw.get("ddl", {}).get("apply", True)),
            evidence_dir=str(_path(raw.get("evidence_dir", ""))) if raw.get("evidence_dir") else "",
            quarantine_dir=str(_path(quarantine["dir"])) if quarantine.get("dir") else "",
            quarantine_format=quarantine.get("format", "csv"),
            lease_seconds=float(raw.get("lease_seconds", 60)),
            transform_retries=int(raw.get("transform_retries", 1)),
            max_units_per_run=int(raw.get("max_units_per_run", 0)),
            retries=int(raw.get("retries", 0)),
            retry_backoff_seconds=float(raw.get("retry_backoff_seconds", 0)),
            publish=Publish(
                table=pub["table"],
                group_by=tuple(pub["group_by"]),
                sums=tuple(pub.get("sum", ())),
                avgs=tuple(pub.get("avg", ())),
                count_as=pub.get("count_as", "row_count"),
            )
            if pub
            else None,
            keep_run_data=bool(raw.get("retention", {}).get("keep_run_data", False)),
            raw=raw,
        )


def _path(value: str) -> Path:
    """Relative paths are relative to $DAGSPEC_PROJECT_DIR (else the working directory)."""
    p = Path(value)
    if p.is_absolute():
        return p
    return Path(os.environ.get("DAGSPEC_PROJECT_DIR", os.getcwd())) / p
