"""Source readers: landing files (CSV, JSON lines, Parquet) and SQL tables, as dict rows.

Parquet needs pyarrow; it is not a dependency, so a Parquet process fails with a clear message
when pyarrow is not importable.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dagspec_runtime.etl.config import ProcessConfig


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class SourceOutsideLanding(ValueError):
    """A glob or a matched file (through `..` or a symlink) lies outside the landing folder."""


def check_glob(pattern: str) -> None:
    """A glob stays inside its folder: no absolute path, no `..` segment."""
    parts = pattern.replace("\\", "/").split("/")
    if pattern.startswith(("/", "\\")) or (len(pattern) > 1 and pattern[1] == ":"):
        raise SourceOutsideLanding(f"source.glob {pattern!r} is an absolute path")
    if ".." in parts:
        raise SourceOutsideLanding(f"source.glob {pattern!r} climbs out of the landing folder")


def landing_files(cfg: ProcessConfig) -> list[Path]:
    """Matched files, sorted so every run sees them in the same order.

    Every match must resolve (after `..` and symlinks) to a file under the landing folder; one
    that does not stops the run before anything is registered, so nothing is loaded.
    """
    check_glob(cfg.source.glob)
    root = Path(cfg.source.landing_dir)
    real_root = root.resolve()
    found = sorted(p for p in root.glob(cfg.source.glob) if p.is_file())
    for p in found:
        real = p.resolve()
        if not real.is_relative_to(real_root):
            raise SourceOutsideLanding(
                f"{p} resolves to {real}, outside the landing folder {real_root}; "
                "remove the link or move the file into the landing folder"
            )
    return found


def read_file(cfg: ProcessConfig, path: Path) -> Iterator[dict[str, Any]]:
    fmt = cfg.source.format
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh, delimiter=cfg.source.delimiter)
    elif fmt == "jsonl":
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    # Numbers keep their digits: a float would turn ...56.78 into ...56.80.
                    yield json.loads(line, parse_float=Decimal)
    elif fmt == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise RuntimeError(
                "source.format parquet needs pyarrow, which is not installed"
            ) from exc
        yield from pq.read_table(path).to_pylist()
    else:
        raise ValueError(f"unsupported source format {fmt!r}")


def read_table(engine: sa.Engine, cfg: ProcessConfig, after: Any | None) -> list[dict[str, Any]]:
    """Rows of a source table newer than the watermark, oldest first."""
    table = sa.Table(cfg.source.table, sa.MetaData(), autoload_with=engine)
    q = sa.select(table)
    wm = cfg.source.watermark_column
    if wm:
        if after is not None:
            q = q.where(table.c[wm] > sa.bindparam("after", after, type_=table.c[wm].type))
        q = q.order_by(table.c[wm])
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def rows_hash(rows: list[dict[str, Any]]) -> str:
    text = json.dumps(rows, default=str, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
