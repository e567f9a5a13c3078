"""Small file helpers shared by the example reduction programs (stdlib only, so the programs run
with any `python3` on a Slurm node, inside or outside a container)."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

VERSION = os.environ.get("DAGSPEC_SOFTWARE_VERSION", "dev")


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """CSV rows as dicts; `#` lines (provenance headers) are skipped."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def write_rows(path: Path, fields: list[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """CSV with a provenance header naming the software version that wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        handle.write(f"# written by {Path(sys.argv[0]).name} version {VERSION}\n")
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row[key] for key in fields})


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"software_version": VERSION, **data}, indent=2, sort_keys=True))


def log(out: Path, step: str, message: str) -> None:
    """Append to logs/<step>.log (a LOG data product) and echo to the Slurm job output."""
    target = out / "logs" / f"{step}.log"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a") as handle:
        handle.write(message + "\n")
    print(message, flush=True)


def svg_line_plot(path: Path, title: str, xs: list[float], ys: list[float]) -> None:
    """A dependency-free SVG line plot: enough for a PLOT data product a person can open."""
    width, height, pad = 480, 240, 30
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    span_x = (x1 - x0) or 1.0
    span_y = (y1 - y0) or 1.0
    points = " ".join(
        f"{pad + (x - x0) / span_x * (width - 2 * pad):.1f},"
        f"{height - pad - (y - y0) / span_y * (height - 2 * pad):.1f}"
        for x, y in zip(xs, ys, strict=True)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<text x="{pad}" y="18" font-size="12">{title} (v{VERSION})</text>'
        f'<polyline fill="none" stroke="black" points="{points}"/></svg>\n'
    )
