"""prepare-data: write a small CSV data set (<phase>/data.csv) for other pipelines to consume.

Used by the artifact examples: another spec declares the promoted file in its `deps:`, and the
compiler wires its DAG to this one through an Airflow Asset.
"""

from __future__ import annotations

import sys

from _common import Run, log, main

NAME = "prepare-data"
ROWS = [("id", "value"), ("1", "100"), ("2", "200"), ("3", "300")]


def prepare(run: Run) -> None:
    run.write("data.csv", "".join(",".join(row) + "\n" for row in ROWS))
    log(f"{NAME}: wrote {len(ROWS) - 1} records")


if __name__ == "__main__":
    sys.exit(main(NAME, prepare))
