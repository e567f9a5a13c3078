"""The type oracle: random values of every contract type, written in every source format, loaded
on SQLite and PostgreSQL. Each row reads back equal to Python's own interpretation of the value
(int, Decimal, date, datetime) or is quarantined with the file's own text in its reason; mart
sums and averages equal exact arithmetic; ordering and comparison equal Python's.

The expected values come from the generated Python values (not from the loader's parser):
integers are in range or refused, a decimal fits decimal(38,4) exactly or is refused, an offset
timestamp is its UTC instant. `make test` runs a few derandomized examples per format and
backend; `make oracle` (DAGSPEC_ORACLE_EXAMPLES) runs many random ones.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dagspec_runtime.etl import run_process
from dagspec_runtime.metalog import engine_for
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.postgres

EXAMPLES = int(os.environ.get("DAGSPEC_ORACLE_EXAMPLES", "3"))
P, S, MAXLEN = 38, 4, 10
FORMATS = ["csv", "csv-quoted", "csv-crlf", "csv-bom", "json", "jsonl"]
BOOLS = {"true": True, "false": False, "t": True, "f": False, "1": True, "0": False}
BOOLS |= {"yes": True, "no": False, "y": True, "n": False, "TRUE": True, "False": False}
JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_names = itertools.count()

COLUMNS = [
    {"name": "id", "type": "integer", "nullable": False},
    {"name": "g", "type": "string", "nullable": False},
    {"name": "n", "type": "integer", "nullable": False},
    {"name": "d", "type": "decimal", "precision": P, "scale": S, "nullable": False},
    {"name": "b", "type": "boolean", "nullable": True},
    {"name": "dt", "type": "date", "nullable": False},
    {"name": "ts", "type": "timestamp", "nullable": False},
    {"name": "tz", "type": "timestamptz", "nullable": False},
    {"name": "s", "type": "string", "nullable": False, "max_length": MAXLEN},
]


@dataclass
class Cell:
    """One generated value: the text a file holds, the JSON value, and what it must become."""

    text: str
    json: Any
    ok: bool
    value: Any = None


def _int_cell(n: int) -> Cell:
    return Cell(str(n), n, -(2**63) <= n < 2**63, n)


def _dec_cell(d: Decimal, plain: bool) -> Cell:
    text = format(d, "f") if plain else str(d)
    frac = Fraction(d)
    ok = (frac * 10**S).denominator == 1 and abs(frac) < 10 ** (P - S)
    value = Decimal(f"{int(frac * 10**S)}E-{S}") if ok else None  # exact, no context
    as_json: Any = json.loads(text, parse_float=Decimal) if JSON_NUMBER.fullmatch(text) else text
    return Cell(text, as_json, ok, value)


def _ts_text(ts: datetime, zulu: bool) -> str:
    text = ts.isoformat()
    return text[:-6] + "Z" if zulu and text.endswith("+00:00") else text


offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 12, 30))


@st.composite
def rows(draw: Any) -> list[dict[str, Cell]]:
    out = []
    for i in range(draw(st.integers(1, 6))):
        n = draw(st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**70), 2**70)))
        coeff = draw(st.integers(0, 10**40))
        d = Decimal(
            (draw(st.integers(0, 1)), tuple(map(int, str(coeff))), draw(st.integers(-6, 3)))
        )
        token = draw(st.sampled_from([*BOOLS, "maybe", ""]))
        ts = draw(moments.map(lambda t: t.replace(tzinfo=None)))
        ts_zone = draw(st.one_of(st.none(), offsets))
        tz = draw(moments)
        tz_zone = draw(st.one_of(st.none(), offsets))
        s = draw(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")))
        aware_ts = ts.replace(tzinfo=ts_zone) if ts_zone else ts
        aware_tz = tz.replace(tzinfo=tz_zone) if tz_zone else tz
        zulu = draw(st.booleans())
        out.append(
            {
                "id": _int_cell(i),
                "g": Cell(g := draw(st.sampled_from("ab")), g, True, g),
                "n": _int_cell(n),
                "d": _dec_cell(d, draw(st.booleans())),
                "b": Cell(
                    token,
                    BOOLS.get(token, token) if draw(st.booleans()) else token,
                    token in BOOLS or token == "",
                    BOOLS.get(token),
                ),
                "dt": Cell((dt := draw(st.dates())).isoformat(), dt.isoformat(), True, dt),
                "ts": Cell(
                    t := _ts_text(aware_ts, zulu),
                    t,
                    True,
                    aware_ts.astimezone(UTC).replace(tzinfo=None) if ts_zone else ts,
                ),
                "tz": Cell(
                    t := _ts_text(aware_tz, zulu),
                    t,
                    tz_zone is not None,
                    aware_tz.astimezone(UTC) if tz_zone else None,
                ),
                "s": Cell(s, s, len(s) <= MAXLEN, s),
            }
        )
    return out


def write_file(folder: Path, fmt: str, data: list[dict[str, Cell]]) -> Path:
    names = [c["name"] for c in COLUMNS]
    if fmt.startswith("csv"):
        end = "\r\n" if fmt == "csv-crlf" else "\n"
        buf = io.StringIO(newline="")
        # the writer quotes a field holding any character of its line terminator: write with
        # CRLF so a lone CR or LF inside a value is always quoted, then use the format's ending
        w = csv.writer(
            buf,
            quoting=csv.QUOTE_ALL if fmt == "csv-quoted" else csv.QUOTE_MINIMAL,
            lineterminator="\r\n",
        )
        lines = []
        for fields in [names, *([row[n].text for n in names] for row in data)]:
            buf.seek(0)
            buf.truncate()
            w.writerow(fields)
            lines.append(buf.getvalue()[:-2] + end)
        path = folder / "part.csv"
        path.write_text("".join(lines), encoding="utf-8-sig" if fmt == "csv-bom" else "utf-8")
        return path
    objs = [{n: row[n].json for n in names} for row in data]

    # JSON numbers keep their own digits: a Decimal is written as its text, unquoted
    def dumps(o: dict[str, Any]) -> str:
        parts = []
        for k, v in o.items():
            val = str(v) if isinstance(v, Decimal) else json.dumps(v, ensure_ascii=False)
            parts.append(f"{json.dumps(k)}: {val}")
        return "{" + ", ".join(parts) + "}"

    path = folder / f"part.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(dumps(o) + "\n" for o in objs), encoding="utf-8")
    else:
        path.write_text("[\n" + ",\n".join(dumps(o) for o in objs) + "\n]\n", encoding="utf-8")
    return path


def _round_half_even(x: Fraction, scale: int) -> Decimal:
    q, r = divmod(x * 10**scale, 1)
    if r > Fraction(1, 2) or (r == Fraction(1, 2) and q % 2 == 1):
        q += 1
    return Decimal(f"{int(q)}E-{scale}")


@pytest.mark.parametrize("fmt", FORMATS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="DAGSPEC_ORACLE_EXAMPLES" not in os.environ,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
@given(data=rows(), probe=st.decimals(-(10**6), 10**6, places=2))
def test_values_read_back_as_python_reads_them(
    db_url: str, fmt: str, data: list[dict[str, Cell]], probe: Decimal
) -> None:
    k = next(_names)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        landing = root / "landing"
        landing.mkdir()
        path = write_file(landing, fmt, data)
        note(path.read_bytes().decode("utf-8-sig"))
        process = {
            "name": f"oracle{k}",
            "source": {
                "kind": "files",
                "format": "csv" if fmt.startswith("csv") else fmt,
                "landing_dir": str(landing),
                "glob": "part.*",
            },
            "sink": {"table": f"oracle{k}", "strategy": "append"},
            "contract": {"enforcement": "quarantine", "columns": COLUMNS},
            "publish": {
                "table": f"oracle{k}_mart",
                "group_by": ["g"],
                "sum": ["n", "d"],
                "avg": ["n", "d"],
            },
            "evidence_dir": str(root / "evidence"),
            "quarantine": {"dir": str(root / "quarantine"), "format": "csv"},
            "lease_seconds": 600,
        }
        run_process(process, f"r{k}", meta_url=db_url, run_root=root / "runs")
        reasons = {}
        for qfile in (root / "quarantine").rglob("*.csv"):
            with qfile.open(encoding="utf-8", newline="") as fh:
                reasons.update({int(r["id"]): r["_reason"] for r in csv.DictReader(fh)})
    engine = engine_for(db_url)
    table = sa.Table(f"oracle{k}", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        loaded = {r.id: r._mapping for r in conn.execute(sa.select(table))}
    good = [row for row in data if all(c.ok for c in row.values())]
    for row in data:
        rid = row["id"].value
        if row in good:
            got = loaded[rid]
            for name, cell in row.items():
                assert got[name] == cell.value, (name, cell.text, got[name])
                assert type(got[name]) is type(cell.value) or cell.value is None, name
            assert got["d"].as_tuple().exponent == -S
            assert got["tz"].utcoffset() == timedelta(0)
        else:
            assert rid not in loaded
            for cell in (c for c in row.values() if not c.ok):
                assert cell.text in reasons[rid] or repr(cell.text) in reasons[rid], (
                    cell.text,
                    reasons[rid],
                )
    _check_mart(engine, f"oracle{k}_mart", good)
    _check_order(engine, f"oracle{k}", good, probe)


def _check_mart(engine: sa.Engine, name: str, good: list[dict[str, Cell]]) -> None:
    mart = sa.Table(name, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        got = {r.g: r._mapping for r in conn.execute(sa.select(mart))}
    assert set(got) == {r["g"].value for r in good}
    for g, have in got.items():
        mine = [r for r in good if r["g"].value == g]
        n_sum = sum(r["n"].value for r in mine)
        d_sum = sum(Fraction(r["d"].value) for r in mine)
        assert have["n"] == n_sum
        assert have["d"] == d_sum
        assert have["row_count"] == len(mine)
        assert have["n_avg"] == _round_half_even(Fraction(n_sum, len(mine)), 6)
        assert have["d_avg"] == _round_half_even(d_sum / len(mine), S + 6)
        assert have["d_avg"].as_tuple().exponent == -(S + 6)


def _check_order(engine: sa.Engine, name: str, good: list[dict[str, Cell]], probe: Decimal) -> None:
    """ORDER BY and a comparison with a plain SQL number literal, as a user would type them."""
    with engine.connect() as conn:
        by_d = conn.scalars(sa.text(f"SELECT id FROM {name} ORDER BY d, id")).all()
        above = conn.scalars(sa.text(f"SELECT id FROM {name} WHERE d > {probe} ORDER BY id")).all()
        by_tz = conn.scalars(sa.text(f"SELECT id FROM {name} ORDER BY tz, id")).all()
        top = conn.scalar(sa.text(f"SELECT max(d) FROM {name}"))
    ids = sorted(good, key=lambda r: (r["d"].value, r["id"].value))
    assert by_d == [r["id"].value for r in ids]
    assert above == sorted(r["id"].value for r in good if r["d"].value > probe)
    assert by_tz == [
        r["id"].value for r in sorted(good, key=lambda r: (r["tz"].value, r["id"].value))
    ]
    if good:
        assert Decimal(str(top)) == max(r["d"].value for r in good)
