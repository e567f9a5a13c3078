"""One DagBag measurement in a fresh interpreter: `import airflow` (~2.5 s) is paid before the
clock starts, so only the folder parse is timed. Prints one JSON line on stdout."""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    folder, expected = sys.argv[1], int(sys.argv[2])
    from airflow.dag_processing.dagbag import DagBag

    start = time.perf_counter()
    bag = DagBag(dag_folder=folder)
    seconds = time.perf_counter() - start
    errors = {str(k): str(v)[-600:] for k, v in bag.import_errors.items()}
    tasks = sum(len(d.tasks) for d in bag.dags.values())
    print(json.dumps({"seconds": seconds, "dags": len(bag.dags), "tasks": tasks,
                      "errors": errors, "expected": expected}))
    return 0 if not errors and len(bag.dags) == expected else 1


if __name__ == "__main__":
    sys.exit(main())
