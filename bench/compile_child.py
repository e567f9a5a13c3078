"""One compile measurement in a fresh interpreter (so caches and peak memory are this compile's
own). Interpreter start is excluded; importing the compiler is timed apart from compiling.
CPU time counts this process and the worker processes it waited for (user + system).
Modes: `compile` (the CLI's compile), `check` (`compile --check`),
`lint FILE` (`dagspec lint FILE`), `cli` (`dagspec compile` itself, its output discarded).
Prints one JSON line on stdout."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path


def _cpu() -> float:
    own, workers = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _kernel_cpu() -> float:
    """The system (kernel) part of `_cpu`: file creation, page faults, process start."""
    own, workers = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_stime + workers.ru_stime


def main() -> int:
    root, mode = Path(sys.argv[1]), sys.argv[2]
    if mode == "cli":
        return _cli(root)
    start = time.perf_counter()
    from compiler import api

    imported, cpu = time.perf_counter(), _cpu()
    if mode == "lint":
        findings = api.lint(root, [Path(sys.argv[3])])
        done, cpu = time.perf_counter(), _cpu() - cpu
        print(
            json.dumps(
                {
                    "import_seconds": imported - start,
                    "seconds": done - imported,
                    "cpu_seconds": cpu,
                    "ok": not findings,
                    "written": 0,
                    "unchanged": 0,
                    "findings": [f.as_dict() for f in findings[:5]],
                    "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                }
            )
        )
        return 0 if not findings else 1
    result = api.compile_project(root, check=mode == "check")
    done, cpu = time.perf_counter(), _cpu() - cpu
    plan = result.plan
    print(
        json.dumps(
            {
                "import_seconds": imported - start,
                "seconds": done - imported,
                "cpu_seconds": cpu,
                "ok": result.ok,
                "findings": [f.as_dict() for f in result.findings[:5]],
                "written": len(plan.files) if plan else 0,
                "stale": plan.changed if plan else None,
                "unchanged": len(plan.unchanged) if plan else 0,
                "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )
    return 0 if result.ok else 1


def _cli(root: Path) -> int:
    """`dagspec --project ROOT compile`, timed from after its imports."""
    start = time.perf_counter()
    import compiler
    from dagspec import cli

    imported, cpu, kernel = time.perf_counter(), _cpu(), _kernel_cpu()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        code = cli.main(["--project", str(root), "compile"])
    done, cpu, kernel = time.perf_counter(), _cpu() - cpu, _kernel_cpu() - kernel
    out = root / "generated_dags"
    print(
        json.dumps(
            {
                "import_seconds": imported - start,
                "seconds": done - imported,
                "cpu_seconds": cpu,
                "kernel_cpu_seconds": kernel,
                "ok": code == 0,
                "written": len(list(out.glob("*.py"))) if out.is_dir() else 0,
                "compiler": str(Path(compiler.__file__).parent),
                "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
