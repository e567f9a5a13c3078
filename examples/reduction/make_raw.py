"""Write the small raw data catalogue under examples/reduction/raw (deterministic).

Each raw data package is a folder with `package.json` (the metadata that filter_rules and
group_by read) and `spectra.csv`: a 3x3 position map of 32-channel sky/hot/cold counts, the
inputs a hot/cold calibration needs. Two scans of NGC253 in CO(4-3) match the example pipeline;
one NGC1068 scan must never be picked up by it.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
from pathlib import Path

PACKAGES = [
    ("ngc253_co43_scan1", {"source": "NGC253", "line": "CO43", "executed_obs_unit": "scan1"}),
    ("ngc253_co43_scan2", {"source": "NGC253", "line": "CO43", "executed_obs_unit": "scan2"}),
    ("ngc1068_co43_scan3", {"source": "NGC1068", "line": "CO43", "executed_obs_unit": "scan3"}),
]
T_HOT, T_COLD, T_RX = 290.0, 80.0, 150.0
CHANNELS = 32


def write_package(folder: Path, meta: dict[str, str], seed: int) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(
        json.dumps({**meta, "instrument": "CHAI", "t_hot_k": T_HOT, "t_cold_k": T_COLD}, indent=2)
        + "\n"
    )
    with open(folder / "spectra.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x", "y", "channel", "velocity_kms", "sky", "hot", "cold"])
        for x in (-10, 0, 10):
            for y in (-10, 0, 10):
                gain = rng.uniform(0.9, 1.1)
                peak = 2.0 * math.exp(-(x * x + y * y) / 200.0)
                for ch in range(CHANNELS):
                    v = -400 + ch * 25.0
                    line = peak * math.exp(-((v - 250.0) ** 2) / (2 * 60.0**2))
                    t_sky = 0.5 + 0.001 * v + line + rng.gauss(0, 0.05)
                    writer.writerow(
                        [
                            x,
                            y,
                            ch,
                            v,
                            round(gain * (t_sky + T_RX), 4),
                            round(gain * (T_HOT + T_RX), 4),
                            round(gain * (T_COLD + T_RX), 4),
                        ]
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(Path(__file__).parent / "raw"))
    out = Path(parser.parse_args().out)
    for seed, (name, meta) in enumerate(PACKAGES):
        write_package(out / name, meta, seed)


if __name__ == "__main__":
    main()
