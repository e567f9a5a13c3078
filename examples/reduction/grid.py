"""Example reduction step 3 (all data): grid all baselined scans into a map.

    python3 grid.py --in BASELINED_CSV... --out DIR [--line-kms 250] [--window-kms 150]

Averages every position over scans weighted by 1/rms^2 and integrates the line: writes
science/cube.csv, science/moment0.csv, plots/moment0.svg, statistics/grid.json and logs/.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from spectra_io import log, read_rows, svg_line_plot, write_json, write_rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in", dest="inputs", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--line-kms", type=float, default=250.0)
    parser.add_argument("--window-kms", type=float, default=150.0)
    args = parser.parse_args()
    out = Path(args.out)
    sums: dict[tuple[float, float, float], list[float]] = defaultdict(lambda: [0.0, 0.0])
    scans = set()
    for path in args.inputs:
        for row in read_rows(path):
            weight = 1.0 / max(float(row["rms_k"]), 1e-6) ** 2
            key = (float(row["x"]), float(row["y"]), float(row["velocity_kms"]))
            sums[key][0] += weight * float(row["tmb_k"])
            sums[key][1] += weight
            scans.add(row["scan"])
        log(out, "grid", f"gridded {path}")
    cube = [
        {"x": x, "y": y, "velocity_kms": v, "tmb_k": round(total / weight, 5)}
        for (x, y, v), (total, weight) in sorted(sums.items())
    ]
    write_rows(out / "science" / "cube.csv", ["x", "y", "velocity_kms", "tmb_k"], cube)
    moment0: dict[tuple[float, float], float] = defaultdict(float)
    for row in cube:
        if abs(row["velocity_kms"] - args.line_kms) <= args.window_kms:
            moment0[(row["x"], row["y"])] += row["tmb_k"] * 25.0
    m0 = [
        {"x": x, "y": y, "moment0_k_kms": round(val, 3)} for (x, y), val in sorted(moment0.items())
    ]
    write_rows(out / "science" / "moment0.csv", ["x", "y", "moment0_k_kms"], m0)
    svg_line_plot(
        out / "plots" / "moment0.svg",
        "moment 0 along the map",
        list(range(len(m0))),
        [row["moment0_k_kms"] for row in m0],
    )
    peak = max(m0, key=lambda r: r["moment0_k_kms"])
    write_json(
        out / "statistics" / "grid.json",
        {"scans": sorted(scans), "positions": len(m0), "peak": peak, "inputs": len(args.inputs)},
    )
    log(out, "grid", f"gridded {len(scans)} scans into {len(m0)} positions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
