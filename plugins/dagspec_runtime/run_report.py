"""The run report both ways of running print: the fast path and ``dag.test()``.

Built from what both have (each task's state, tries, error and return value), so the two
paths report alike; the pieces both read from their own records (the failed Slurm jobs, a
manifest run's process report) are made here too. The seed-001 fields sit under ``result``:
``status``, ``attempts``, ``max_attempts``, ``inserted_rows``, ``quarantined_rows``,
``errors`` (messages), ``duration_s``, ``reconciliation_metrics.data_contract_evidence``;
``passed`` says whether the run counts as a success, ``status`` says ``interrupted`` (and
``interrupted`` which signal) or ``config_error`` (nothing ran). The exit code of a report is
the application's to decide (``dagspec.exit_codes``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

RESULT_TASK_ID = "pipeline_result"
PASSING_ENTITY = frozenset({"ok", "warning"})
CONFIG_ERROR, INTERRUPTED = "config_error", "interrupted"
#: task states whose Slurm job failed (Airflow's up_for_retry: a failed try to be retried)
JOB_FAILED_STATES = frozenset({"failed", "up_for_retry"})


def build(
    *,
    dag_id: str,
    kind: str,
    run_id: str,
    state: str,
    tasks: Sequence[Mapping[str, Any]],
    values: Mapping[str, Any],
    duration_s: float,
    path: str = "fast",
    interrupted: str | None = None,
    cancelled: Sequence[str] = (),
    process: Mapping[str, Any] | None = None,
    slurm_failures: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The report of one run. ``tasks``: task_id, state, attempts, max_attempts, error,
    duration_s (DAG order); ``values``: what tasks returned, by task id; ``process``: a
    manifest run's process report (etl.report), whose counts and errors come from the run
    folder the gates wrote."""
    rows = [
        {
            "task_id": t["task_id"],
            "state": t["state"],
            "attempts": int(t.get("attempts") or 0),
            "max_attempts": int(t.get("max_attempts") or 1),
            "error": t.get("error"),
            "duration_s": round(float(t.get("duration_s") or 0.0), 3),
            **({"map_index": t["map_index"]} if t.get("map_index") is not None else {}),
        }
        for t in tasks
    ]
    pipeline = values.get(RESULT_TASK_ID) if kind == "Entity" else None
    pipeline = pipeline if isinstance(pipeline, dict) else None
    errors = _errors(rows, pipeline, slurm_failures)
    if process is not None:
        errors = list(dict.fromkeys([*process["errors"], *errors]))
    if interrupted:
        errors.append(f"interrupted by {interrupted}")
    if kind == "Entity" and pipeline is not None:
        status = str(pipeline["status"])
        passed = status in PASSING_ENTITY and state == "success"
    else:
        passed = state == "success"
        status = "success" if passed else "failed"
    if interrupted:
        status, passed = INTERRUPTED, False
    ran = [r for r in rows if r["attempts"]]
    result = {
        "status": status,
        "attempts": max((r["attempts"] for r in ran), default=0),
        "max_attempts": max((r["max_attempts"] for r in rows), default=1),
        "inserted_rows": _gate(values, "finalize", "rows_loaded"),
        "quarantined_rows": _gate(values, "contract", "rejected"),
        "errors": errors,
        "duration_s": round(duration_s, 3),
        "reconciliation_metrics": {"data_contract_evidence": _gate(values, "evidence", "path")},
    }
    if process is not None:
        result["inserted_rows"] = process["inserted_rows"]
        result["quarantined_rows"] = process["quarantined_rows"]
        result["reconciliation_metrics"] = {**process["reconciliation_metrics"]}
    return {
        "dag_id": dag_id,
        "kind": kind,
        "run_id": run_id,
        "path": path,
        "state": state,
        "passed": passed,
        "status": status,
        "result": result,
        "tasks": rows,
        "pipeline_result": pipeline,
        "process_report": dict(process) if process is not None else None,
        "slurm_failures": [dict(item) for item in slurm_failures],
        "interrupted": interrupted,
        "cancelled": list(cancelled),
    }


def config_error(dag_id: str, errors: Sequence[str]) -> dict[str, Any]:
    """The report of a run that could not start: the spec, the DAG file or the conf is
    wrong; ``errors`` says what."""
    report = build(
        dag_id=dag_id, kind="", run_id="", state="failed", tasks=[], values={}, duration_s=0.0
    )
    report["status"] = report["result"]["status"] = CONFIG_ERROR
    report["result"]["errors"] = list(errors)
    return report


def interrupted(
    dag_id: str, kind: str, signame: str, cancelled: Sequence[str], path: str = "airflow"
) -> dict[str, Any]:
    """The report of a run a signal stopped before it could report itself (the Airflow path's
    child was killed, or Ctrl-C came before the run began): what was cancelled, nothing else."""
    return build(
        dag_id=dag_id,
        kind=kind,
        run_id="",
        state="failed",
        tasks=[],
        values={},
        duration_s=0.0,
        path=path,
        interrupted=signame,
        cancelled=cancelled,
    )


def slurm_failures(tries: Iterable[tuple[str, int | None, str, Any]]) -> list[dict[str, Any]]:
    """The failed Slurm jobs of a run, from (task id, map index, state, job outcome) of each
    task instance (the outcome a step returned, or XCom ``slurm_job`` on the Airflow path):
    one entry per failed instance that ran a job, by task and map index."""
    found = [
        {"task_id": task_id, "map_index": -1 if index is None else index, **job}
        for task_id, index, state, job in tries
        if state in JOB_FAILED_STATES and isinstance(job, dict)
    ]
    return sorted(found, key=lambda item: (item["task_id"], item["map_index"]))


def process_report(
    process: dict[str, Any],
    run_id: str,
    *,
    run_root: str | None,
    storage: str | None,
    attempts: int,
    max_attempts: int,
    passed: bool,
    duration_s: float,
) -> dict[str, Any]:
    """A manifest run's process report (``etl.report``), built from the run folder its gates
    wrote (``process``, ``run_root``, ``storage``: the gate tasks' arguments)."""
    from dagspec_runtime.etl.config import ProcessConfig
    from dagspec_runtime.etl.gate_task import run_folder_root
    from dagspec_runtime.etl.report import FAILED, SUCCESS, from_run_folder
    from dagspec_runtime.etl.runfolder import run_dir

    cfg = ProcessConfig.parse(process)
    with run_folder_root(cfg.name, run_id, run_root, storage) as root:
        return from_run_folder(
            run_dir(root, cfg.name, run_id),
            cfg.name,
            run_id,
            attempts=attempts,
            max_attempts=max_attempts,
            status=SUCCESS if passed else FAILED,
            duration_s=duration_s,
        ).to_dict()


def _gate(values: Mapping[str, Any], task: str, key: str) -> Any:
    value = values.get(task)
    return value.get(key) if isinstance(value, dict) else None


def _errors(
    rows: Sequence[Mapping[str, Any]],
    pipeline: Mapping[str, Any] | None,
    slurm_failures: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """Messages, never tracebacks: module errors from the pipeline result, failed Slurm jobs
    (job id, state, exit code, run time, CPU time), then the other failed tasks."""
    errors: list[str] = []
    by_job = set()
    for item in slurm_failures:
        where = item["task_id"] + (f"[{item['map_index']}]" if item["map_index"] >= 0 else "")
        errors.append(f"task {where}: {_job_summary(item)}")
        by_job.add(item["task_id"])
    if pipeline is not None:
        for phase in pipeline.get("phases", []):
            for module in phase.get("modules", []):
                for error in module.get("errors") or []:
                    text = error if isinstance(error, str) else error.get("message", str(error))
                    errors.append(f"{phase['name']}.{module['name']}: {text}")
    for row in rows:
        if row["state"] == "failed" and row["task_id"] not in {RESULT_TASK_ID, *by_job}:
            message = (row["error"] or "failed").strip().splitlines()
            errors.append(f"task {row['task_id']}: {message[0] if message else 'failed'}")
    return list(dict.fromkeys(errors))


def text(report: Mapping[str, Any]) -> str:
    """Plain text: the verdict, the seed-001 fields, the task table, the pipeline result."""
    result = report["result"]
    lines = [
        f"DAG {report['dag_id']}  run {report['run_id']}  state {report['state']}",
        f"status {result['status']}  passed {'yes' if report['passed'] else 'no'}  "
        f"attempts {result['attempts']}/{result['max_attempts']}  "
        f"duration {result['duration_s']:.2f} s",
    ]
    if result["inserted_rows"] is not None or result["quarantined_rows"] is not None:
        lines.append(
            f"inserted_rows {result['inserted_rows']}  "
            f"quarantined_rows {result['quarantined_rows']}  evidence "
            f"{result['reconciliation_metrics']['data_contract_evidence']}"
        )
    lines.append("")
    rows = report["tasks"]
    names = [_task_name(t) for t in rows]
    width = max((len(name) for name in names), default=4)
    lines.append(f"{'task':<{width}}  {'state':<15} tries")
    lines += [
        f"{name:<{width}}  {t['state']:<15} {t['attempts']}/{t['max_attempts']}"
        for name, t in zip(names, rows, strict=True)
    ]
    if report.get("slurm_failures"):
        lines += ["", "Failed Slurm jobs:", *_failure_lines(report["slurm_failures"])]
    if report["pipeline_result"] is not None:
        from dagspec_runtime.entity.result import format_result

        lines += ["", format_result(report["pipeline_result"])]
    if report.get("process_report") is not None:
        lines += ["", *_process_lines(report["process_report"])]
    if result["errors"]:
        lines += ["", "errors:"] + [f"  - {e}" for e in result["errors"]]
    if report["cancelled"]:
        lines += ["", "cancelled: " + ", ".join(report["cancelled"])]
    return "\n".join(lines)


def markdown(report: Mapping[str, Any]) -> str:
    """Markdown tables (for CI step summaries and pull request comments)."""
    result = report["result"]
    lines = [
        f"**{report['dag_id']}** run `{report['run_id']}`: **{report['state']}**",
        "",
        "| status | passed | attempts | max_attempts | inserted_rows | quarantined_rows "
        "| duration_s | evidence |",
        "|---|---|---|---|---|---|---|---|",
        f"| {result['status']} | {'yes' if report['passed'] else 'no'} | "
        f"{result['attempts']} | {result['max_attempts']} | "
        f"{_cell(result['inserted_rows'])} | {_cell(result['quarantined_rows'])} | "
        f"{result['duration_s']:.2f} | "
        f"{_cell(result['reconciliation_metrics']['data_contract_evidence'])} |",
        "",
        "| task | state | tries |",
        "|---|---|---|",
    ]
    lines += [
        f"| {_task_name(t)} | {t['state']} | {t['attempts']}/{t['max_attempts']} |"
        for t in report["tasks"]
    ]
    if report.get("slurm_failures"):
        lines += [
            "",
            "| failed task | sub-group | Slurm job | state | exit code | run time s "
            "| CPU time s | output tail |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for item in report["slurm_failures"]:
            tail = "<br>".join(_md_cell(line) for line in item.get("output_tail") or [])
            lines.append(
                f"| {item['task_id']}[{item['map_index']}] | "
                f"{_md_cell(str(item.get('sub_group_key') or ''))} | {item['job_id']} "
                f"| {item['state']} | {_cell(item.get('exit_code'))} "
                f"| {_cell(item.get('runtime_s'))} | {_cell(item.get('cpu_time_s'))} | {tail} |"
            )
    pipeline = report["pipeline_result"]
    if pipeline is not None:
        lines += [
            "",
            f"Pipeline status **{pipeline['status']}**, promoted: "
            f"{'yes' if pipeline['promoted'] else 'no'}",
            "",
            "| phase | module | required | status | ms |",
            "|---|---|---|---|---|",
        ]
        for phase in pipeline["phases"]:
            for module in phase["modules"]:
                lines.append(
                    f"| {phase['name']} | {module['name']} | "
                    f"{'yes' if module['required'] else 'no'} | {module['status']} | "
                    f"{module.get('duration_ms') or ''} |"
                )
    if report.get("process_report") is not None:
        process = report["process_report"]
        lines += ["", *(f"- {_escape(line)}" for line in _process_lines(process)[2:])]
    if result["errors"]:
        lines += ["", "Errors:", ""] + [f"- {_escape(e)}" for e in result["errors"]]
    if report["cancelled"]:
        lines += ["", "Cancelled: " + ", ".join(report["cancelled"])]
    return "\n".join(lines)


def _process_lines(data: Mapping[str, Any]) -> list[str]:
    """A manifest process: its counts, evidence, units skipped (claimed) or failed."""
    lines = [
        f"process {data['process']}: {data['status']}  attempts {data['attempts']}/"
        f"{data['max_attempts']}  inserted {data['inserted_rows']}  quarantined "
        f"{data['quarantined_rows']}  {data['duration_s']} s",
        f"evidence: {data['reconciliation_metrics']['data_contract_evidence'] or '-'}",
    ]
    lines += [
        f"skipped (claimed by run {s['holder_run_id']}): {s['path']}"
        for s in data.get("skipped_claimed", [])
    ]
    lines += [
        f"failed unit {u['unit_id']} ({u['path']}): {u['message']}"
        for u in data.get("failed_units", [])
    ]
    return lines


def _job_summary(item: Mapping[str, Any]) -> str:
    """`Slurm job 41 FAILED, exit code 3, run time 1 s, CPU time 0.2 s` (what is known)."""
    extra = [f"exit code {item.get('exit_code')}"]
    if item.get("signal"):
        extra.append(f"signal {item['signal']}")
    for label, key, unit in (
        ("run time", "runtime_s", "s"),
        ("CPU time", "cpu_time_s", "s"),
        ("peak memory", "peak_memory_gb", "GB"),
    ):
        if item.get(key) is not None:
            extra.append(f"{label} {item[key]:g} {unit}")
    return f"Slurm job {item['job_id']} {item['state']}, {', '.join(extra)}"


def _failure_lines(failures: Sequence[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for item in failures:
        where = item["task_id"] + (f"[{item['map_index']}]" if item["map_index"] >= 0 else "")
        if item.get("sub_group_key"):
            where += f" sub-group {item['sub_group_key']}"
        lines.append(f"{where}: {_job_summary(item)}")
        tail = item.get("output_tail") or []
        lines.append(f"  last {len(tail)} line(s) of {item.get('output_path') or 'its output'}:")
        lines += [f"  | {line}" for line in tail]
    return lines


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def _task_name(task: Mapping[str, Any]) -> str:
    """A mapped task instance shows its index: `step [0]`."""
    return task["task_id"] + (f" [{task['map_index']}]" if "map_index" in task else "")


def _cell(value: Any) -> str:
    return "" if value is None else _escape(str(value))


def _escape(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def as_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False, default=str)


FORMATS = {"text": text, "json": as_json, "markdown": markdown}
