"""Example reduction step 1 (per scan): hot/cold calibration of raw counts to antenna temperature.

    python3 calibrate.py --in RAW_FILES... --out DIR [--mode hot_cold|scale]

Reads each raw package's `spectra.csv` (and the `package.json` next to it for the load
temperatures) and writes intermediate/calibrated.csv, qa/calibrate_qa.json and logs/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spectra_io import log, read_rows, write_json, write_rows

FIELDS = ["scan", "x", "y", "channel", "velocity_kms", "ta_k"]


def calibrate(path: Path, mode: str) -> list[dict[str, object]]:
    meta = json.loads((path.parent / "package.json").read_text())
    t_hot, t_cold = float(meta["t_hot_k"]), float(meta["t_cold_k"])
    rows = []
    for row in read_rows(path):
        sky, hot, cold = float(row["sky"]), float(row["hot"]), float(row["cold"])
        if mode == "hot_cold":
            # Two loads of known temperature fix gain and receiver noise.
            ta = t_cold + (sky - cold) * (t_hot - t_cold) / (hot - cold)
        elif mode == "scale":
            ta = sky / hot * t_hot
        else:
            raise SystemExit(f"unknown --mode {mode!r}")
        rows.append(
            {
                "scan": meta["executed_obs_unit"],
                "x": row["x"],
                "y": row["y"],
                "channel": row["channel"],
                "velocity_kms": row["velocity_kms"],
                "ta_k": round(ta, 5),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in", dest="inputs", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--mode", default="hot_cold")
    args = parser.parse_args()
    out = Path(args.out)
    spectra = [Path(p) for p in args.inputs if Path(p).name == "spectra.csv"]
    if not spectra:
        log(out, "calibrate", f"no spectra.csv among inputs {args.inputs}")
        return 2
    rows: list[dict[str, object]] = []
    for path in spectra:
        rows += calibrate(path, args.mode)
        log(out, "calibrate", f"calibrated {path} ({args.mode})")
    write_rows(out / "intermediate" / "calibrated.csv", FIELDS, rows)
    temps = [float(r["ta_k"]) for r in rows]  # type: ignore[arg-type]
    write_json(
        out / "qa" / "calibrate_qa.json",
        {"mode": args.mode, "rows": len(rows), "ta_min_k": min(temps), "ta_max_k": max(temps)},
    )
    log(out, "calibrate", f"wrote {len(rows)} calibrated samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
