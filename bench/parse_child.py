"""One DagBag measurement in a fresh interpreter: `import airflow` (~2.5 s) is paid before the
clock starts, so only the folder parse is timed (wall and CPU time). Prints one JSON line."""

from __future__ import annotations

import json
import resource
import sys
import time


def _cpu() -> float:
    """User + system CPU seconds of this process and the children it waited for."""
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    folder, expected = sys.argv[1], int(sys.argv[2])
    from airflow.dag_processing.dagbag import DagBag

    start, cpu = time.perf_counter(), _cpu()
    bag = DagBag(dag_folder=folder)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    errors = {str(k): str(v)[-600:] for k, v in bag.import_errors.items()}
    tasks = sum(len(d.tasks) for d in bag.dags.values())
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "dags": len(bag.dags),
                "tasks": tasks,
                "errors": errors,
                "expected": expected,
            }
        )
    )
    return 0 if not errors and len(bag.dags) == expected else 1


if __name__ == "__main__":
    sys.exit(main())
