"""analyze: read a project CSV file another pipeline produced and report on it (<phase>/report.txt).

`--data PATH` names the file relative to the project root (the module's working directory).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import ModuleError, Run, log, main

NAME = "analyze"


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path)


def analyze(run: Run) -> None:
    data: Path = run.args.data
    if not data.is_file():
        raise ModuleError(f"{data} does not exist: has the producing pipeline run?")
    rows = data.read_text(encoding="utf-8").strip().splitlines()[1:]
    total = sum(float(row.split(",")[1]) for row in rows)
    run.write("report.txt", f"Processed {len(rows)} records from {data}, total {total:g}\n")
    log(f"{NAME}: {len(rows)} records")


if __name__ == "__main__":
    sys.exit(main(NAME, analyze, arguments))
