"""The import cost of one operator module in a fresh interpreter where Airflow's SDK and DagBag
are already loaded — the extra a DAG file pays for the operators it imports."""

from __future__ import annotations

import importlib
import json
import sys
import time


def main() -> int:
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401
    from airflow.sdk import DAG, BaseOperator  # noqa: F401

    before = set(sys.modules)
    start = time.perf_counter()
    importlib.import_module(sys.argv[1])
    seconds = time.perf_counter() - start
    new = sorted(set(sys.modules) - before)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "new_modules": len(new),
                "top": sorted({m.split(".")[0] for m in new}),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
