"""Example reduction step 2 (per scan): fit and subtract a linear baseline outside the line window.

    python3 baseline.py --in CALIBRATED_CSV... --out DIR [--window-kms 150] [--line-kms 250]

Writes intermediate/baselined.csv, statistics/baseline_rms.json, plots/spectrum.svg and logs/.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

from spectra_io import log, read_rows, svg_line_plot, write_json, write_rows

FIELDS = ["scan", "x", "y", "channel", "velocity_kms", "tmb_k", "rms_k"]


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares y = a + b x."""
    n = len(points)
    sx = sum(x for x, _ in points)
    sy = sum(y for _, y in points)
    sxx = sum(x * x for x, _ in points)
    sxy = sum(x * y for x, y in points)
    b = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    return (sy - b * sx) / n, b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in", dest="inputs", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--window-kms", type=float, default=150.0)
    parser.add_argument("--line-kms", type=float, default=250.0)
    args = parser.parse_args()
    out = Path(args.out)
    spectra: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for path in args.inputs:
        for row in read_rows(path):
            spectra[(row["scan"], row["x"], row["y"])].append(row)
        log(out, "baseline", f"read {path}")
    rows = []
    rms_by_position = {}
    for (scan, x, y), samples in sorted(spectra.items()):
        off = [
            (float(s["velocity_kms"]), float(s["ta_k"]))
            for s in samples
            if abs(float(s["velocity_kms"]) - args.line_kms) > args.window_kms
        ]
        a, b = fit_line(off)
        rms = math.sqrt(sum((t - a - b * v) ** 2 for v, t in off) / len(off))
        rms_by_position[f"{scan}:{x},{y}"] = round(rms, 5)
        for s in samples:
            v = float(s["velocity_kms"])
            rows.append({**s, "tmb_k": round(float(s["ta_k"]) - a - b * v, 5), "rms_k": rms})
    write_rows(out / "intermediate" / "baselined.csv", FIELDS, rows)
    write_json(out / "statistics" / "baseline_rms.json", {"rms_k": rms_by_position})
    centre = [r for r in rows if r["x"] == "0" and r["y"] == "0"]
    if centre:
        svg_line_plot(
            out / "plots" / "spectrum.svg",
            "baselined centre spectrum",
            [float(r["velocity_kms"]) for r in centre],
            [float(r["tmb_k"]) for r in centre],
        )
    log(out, "baseline", f"baselined {len(spectra)} spectra")
    return 0


if __name__ == "__main__":
    sys.exit(main())
