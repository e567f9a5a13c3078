"""One compile measurement in a fresh interpreter (so caches and peak memory are this compile's
own). Interpreter start is excluded; importing the compiler is timed apart from compiling.
Prints one JSON line on stdout."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main() -> int:
    root, cached = Path(sys.argv[1]), sys.argv[2] == "cached"
    start = time.perf_counter()
    from compiler import api

    imported = time.perf_counter()
    result = api.compile_project(root, cached=cached)
    done = time.perf_counter()
    plan = result.plan
    print(
        json.dumps(
            {
                "import_seconds": imported - start,
                "seconds": done - imported,
                "ok": result.ok,
                "findings": [f.as_dict() for f in result.findings[:5]],
                "written": len(plan.files) if plan else 0,
                "unchanged": len(plan.unchanged) if plan else 0,
                "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
