"""dagspec from Python: run a spec as `dagspec run` does and get its report as an object.

    import dagspec
    report = dagspec.run("specs/orders-etl.yaml", selector="orders", run_id="orders-1",
                         retry_attempts=2, retry_backoff_seconds=5)
    if not report.passed:
        raise RuntimeError(report.result.errors)
    print(report.result.inserted_rows)

`report.to_dict()` is exactly what `dagspec run --format json` prints. `dagspec` is the one
public import path: the compiler's API (lint, compile_project, render_spec, graph, the findings,
rules and reporters) is re-exported here; `compiler` is the layer underneath.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagspec.run as _runner  # loaded first: the `run` function below must win over the module
from compiler import (
    REPORTERS,
    RULES,
    CompileResult,
    Finding,
    Rule,
    Severity,
    compile_project,
    graph,
    lint,
    render_spec,
)

__all__ = [
    "REPORTERS",
    "RULES",
    "CompileResult",
    "Finding",
    "Rule",
    "RunReport",
    "RunResult",
    "Severity",
    "compile_project",
    "graph",
    "lint",
    "render_spec",
    "run",
]


@dataclass(frozen=True)
class RunResult:
    """The seed-001 fields of a run."""

    status: str
    attempts: int
    max_attempts: int
    inserted_rows: int | None
    quarantined_rows: int | None
    errors: list[str]
    duration_s: float
    reconciliation_metrics: dict[str, Any]


@dataclass(frozen=True)
class RunReport:
    """One run: whether it passed, its result, each task, and the entity pipeline result."""

    dag_id: str
    kind: str
    run_id: str
    passed: bool
    status: str
    exit_code: int
    result: RunResult
    tasks: list[dict[str, Any]]
    pipeline_result: dict[str, Any] | None
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The report as `dagspec run --format json` prints it."""
        return dict(self.data)


def run(
    spec: str | Path,
    *,
    selector: str | None = None,
    entity: str | None = None,
    run_id: str | None = None,
    retry_attempts: int | None = None,
    retry_backoff_seconds: float | None = None,
    target: str | None = None,
    dry_run: bool = False,
    keep_workspace: bool = False,
    conf: dict[str, Any] | None = None,
    airflow: bool = False,
    project: str | Path | None = None,
) -> RunReport:
    """Run one spec's DAG (a file or a spec name) like `dagspec run`; never raises for a failed
    run or a spec error: look at `passed`, `status` and `result.errors`."""
    from compiler.project import find_root

    params = dict(conf or {})
    if target is not None:
        params["target"] = target
    if dry_run:
        params["dry_run"] = True
    if keep_workspace:
        params["keep_workspace"] = True
    path = Path(spec)
    if project is not None:
        root = Path(project).resolve()
    else:
        root = find_root(path.resolve().parent if path.exists() else Path.cwd())
    request = _runner.RunRequest(
        str(spec),
        entity=entity,
        selector=selector,
        conf=params,
        retries=retry_attempts,
        retry_delay=retry_backoff_seconds,
        airflow=airflow,
        run_id=run_id,
    )
    data = _runner.execute(root, request)
    return RunReport(
        dag_id=data["dag_id"],
        kind=data["kind"],
        run_id=data["run_id"],
        passed=data["passed"],
        status=data["status"],
        exit_code=int(data["exit_code"]),
        result=RunResult(**data["result"]),
        tasks=data["tasks"],
        pipeline_result=data["pipeline_result"],
        data=data,
    )
