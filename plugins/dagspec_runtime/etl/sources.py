"""Source readers: landing files (CSV, JSON lines, Parquet) and SQL tables, as dict rows.

Parquet needs pyarrow; it is not a dependency, so a Parquet process fails with a clear message
when pyarrow is not importable.
"""

from __future__ import annotations

import codecs
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


class FileUnreadable(ValueError):
    """The file as a whole cannot be read (encoding, malformed JSON, oversized field): it is
    marked failed by name and the run's other files still load."""


ROW_ERROR = "_dagspec_row_error"  # a row the reader could not split: quarantined with this reason


def display_name(path: Path, root: Path) -> str:
    """The path under the landing folder as text; bytes that are not UTF-8 shown as \\xNN."""
    rel = path.relative_to(root).as_posix()
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def name_problem(path: Path) -> str | None:
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8; rename the file"
    return None


def _encoding(cfg: ProcessConfig) -> str:
    enc = codecs.lookup(cfg.source.encoding).name
    return "utf-8-sig" if enc == "utf-8" else enc  # a UTF-8 byte order mark is accepted


def read_file(cfg: ProcessConfig, path: Path) -> Iterator[dict[str, Any]]:
    """Rows of one landing file as dicts; FileUnreadable names what made the file unreadable.

    CSV is strict: a row with more or fewer fields than the header (an unquoted thousands
    separator, a lost quote) becomes a ROW_ERROR row quoting the line, never a truncated row.
    """
    try:
        yield from _read(cfg, path)
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 1]
        raise FileUnreadable(
            f"not {cfg.source.encoding} text ({exc.reason}: byte {bad!r}); "
            "declare the file's encoding as source.encoding (e.g. latin-1)"
        ) from None
    except csv.Error as exc:
        raise FileUnreadable(f"CSV: {exc}") from None


def _read(cfg: ProcessConfig, path: Path) -> Iterator[dict[str, Any]]:
    fmt = cfg.source.format
    if fmt == "csv":
        with path.open(encoding=_encoding(cfg), newline="") as fh:
            yield from _csv_rows(csv.reader(fh, delimiter=cfg.source.delimiter), cfg)
    elif fmt == "jsonl":
        with path.open(encoding=_encoding(cfg)) as fh:
            for n, line in enumerate(fh, start=1):
                if line.strip():
                    yield _json_object(line, f"line {n}")
    elif fmt == "json":
        with path.open(encoding=_encoding(cfg)) as fh:
            text = fh.read()
        try:
            doc = json.loads(text, parse_float=Decimal)
        except ValueError as exc:
            raise FileUnreadable(f"malformed JSON: {exc}") from None
        if not isinstance(doc, list):
            raise FileUnreadable("a JSON source file must hold an array of objects")
        for i, item in enumerate(doc, start=1):
            if not isinstance(item, dict):
                raise FileUnreadable(f"item {i} is a JSON {type(item).__name__}, not an object")
            yield item
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


def _csv_rows(reader: Any, cfg: ProcessConfig) -> Iterator[dict[str, Any]]:
    header = next(reader, None)
    if header is None:
        return
    if len(set(header)) != len(header) or any(not h.strip() for h in header):
        raise FileUnreadable(f"CSV header has empty or repeated names: {header!r}")
    width = len(header)
    for fields in reader:
        if not fields:
            continue  # a blank line
        if len(fields) != width:
            text = cfg.source.delimiter.join(fields)
            yield {
                ROW_ERROR: f"{len(fields)} fields where the header has {width} "
                f"(an unquoted delimiter or a lost quote?): {text!r}"
            }
            continue
        yield dict(zip(header, fields, strict=True))


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        # Numbers keep their digits: a float would turn ...56.78 into ...56.80.
        obj = json.loads(line, parse_float=Decimal)
    except ValueError as exc:
        raise FileUnreadable(f"{where}: malformed JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise FileUnreadable(f"{where}: a JSON {type(obj).__name__}, not an object")
    return obj


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
