"""Run one DAG file locally, in-process, and print what happened.

    python -m dagspec_runtime.local_run DAG_FILE [--dag-id ID] [--conf JSON]

Loads the file with Airflow's DagBag (import errors are printed, exit 2), runs ``dag.test()``
with the given conf (an invalid param exits 2 before anything runs), prints a table of task
states and, for an entity DAG, the pipeline result's phases and modules. Exit codes: 0 the run
succeeded, 1 it failed, 2 the DAG could not be loaded or the conf was rejected.

Needs a migrated metadata database (``airflow db migrate``) in ``$AIRFLOW_HOME``. Airflow is
imported lazily so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
RESULT_TASK_ID = "pipeline_result"
LOCAL_BUNDLE = "dagspec-local-run"
_BUNDLES_ENV = "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"


class LoadError(Exception):
    """The DAG file could not be turned into the wanted DAG."""


def ensure_bundle(path: Path) -> None:
    """Make ``dag.test()`` able to find a DAG file that lies outside every configured bundle.

    ``dag.test()`` only runs DAGs it can serialize from a DAG bundle; a file outside the dags
    folder gets its own local bundle (named ``dagspec-local-run``) for this process only.
    """
    from airflow import settings
    from airflow.configuration import conf

    folder = path.resolve().parent
    bundles = json.loads(conf.get("dag_processor", "dag_bundle_config_list") or "[]")
    paths = [
        Path(b.get("kwargs", {}).get("path") or settings.DAGS_FOLDER).resolve() for b in bundles
    ]
    if any(folder.is_relative_to(p) for p in paths):
        return
    bundles = [b for b in bundles if b.get("name") != LOCAL_BUNDLE]
    bundles.insert(
        0,
        {
            "name": LOCAL_BUNDLE,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder)},
        },
    )
    os.environ[_BUNDLES_ENV] = json.dumps(bundles)


def load_dag(path: Path, dag_id: str | None = None) -> Any:
    """The DAG ``dag_id`` from ``path`` (the only one when ``dag_id`` is None)."""
    from airflow.dag_processing.dagbag import DagBag

    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    bag = DagBag(dag_folder=str(path))
    if bag.import_errors:
        details = "\n".join(f"{where}:\n{error}" for where, error in bag.import_errors.items())
        raise LoadError(f"{path} has import errors:\n{details}")
    if dag_id is not None:
        if dag_id not in bag.dags:
            known = ", ".join(sorted(bag.dags)) or "none"
            raise LoadError(f"{path} has no DAG {dag_id!r} (found: {known})")
        return bag.dags[dag_id]
    if len(bag.dags) != 1:
        known = ", ".join(sorted(bag.dags)) or "none"
        raise LoadError(f"{path} defines {len(bag.dags)} DAGs ({known}); pick one with --dag-id")
    return next(iter(bag.dags.values()))


def task_states(dagrun: Any, order: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(task_id, state) for every task instance of the run, in ``order`` (DAG definition order)."""
    position = {task_id: index for index, task_id in enumerate(order)}
    rows = [
        (ti.task_id, str(ti.state) if ti.state else "none") for ti in dagrun.get_task_instances()
    ]
    return sorted(rows, key=lambda row: (position.get(row[0], len(position)), row[0]))


def pipeline_result(dagrun: Any) -> dict[str, Any] | None:
    """The pipeline result the entity DAG pushed as XCom, if there is one."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dagrun.dag_id,
                XComModel.run_id == dagrun.run_id,
                XComModel.task_id == RESULT_TASK_ID,
                XComModel.key == "return_value",
            )
            .first()
        )
        value = row.value if row is not None else None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def process_report(dagrun: Any, dag: Any) -> dict[str, Any] | None:
    """The manifest process report (etl.report.ProcessReport) of a manifest DAG's run."""
    gates = [t for t in getattr(dag, "tasks", []) if hasattr(t, "gate") and hasattr(t, "process")]
    if not gates:
        return None
    from dagspec_runtime.etl.config import ProcessConfig
    from dagspec_runtime.etl.report import FAILED, SUCCESS, from_run_folder
    from dagspec_runtime.etl.runfolder import run_dir

    cfg = ProcessConfig.parse(gates[0].process)
    tis = list(dagrun.get_task_instances())
    attempts = max((int(ti.try_number or 0) for ti in tis), default=1) or 1
    duration = 0.0
    if dagrun.start_date and dagrun.end_date:
        duration = (dagrun.end_date - dagrun.start_date).total_seconds()
    folder = run_dir(gates[0].run_root, cfg.name, dagrun.run_id)
    rep = from_run_folder(
        folder, cfg.name, dagrun.run_id, attempts=attempts,
        max_attempts=max(int(t.retries or 0) for t in gates) + 1,
        status=SUCCESS if str(dagrun.state) == "success" else FAILED, duration_s=duration,
    )
    return rep.to_dict()


def format_process_report(data: dict[str, Any]) -> str:
    lines = [
        f"process {data['process']}: {data['status']}  attempts {data['attempts']}/"
        f"{data['max_attempts']}  inserted {data['inserted_rows']}  quarantined "
        f"{data['quarantined_rows']}  {data['duration_s']} s",
        f"evidence: {data['reconciliation_metrics']['data_contract_evidence'] or '-'}",
    ]
    lines += [f"error: {e}" for e in data["errors"]]
    lines += [f"skipped (claimed by run {s['holder_run_id']}): {s['path']}"
              for s in data["skipped_claimed"]]
    lines += [f"failed unit {u['unit_id']} ({u['path']}): {u['message']}"
              for u in data["failed_units"]]
    return "\n".join(lines)


def report(dagrun: Any, order: Sequence[str] = (), dag: Any = None) -> str:
    """Plain-text summary of a finished run."""
    lines = [f"DAG {dagrun.dag_id}  run {dagrun.run_id}  state {dagrun.state}", ""]
    rows = task_states(dagrun, order)
    width = max((len(task) for task, _ in rows), default=4)
    lines.append(f"{'task':<{width}}  state")
    lines += [f"{task:<{width}}  {state}" for task, state in rows]
    result = pipeline_result(dagrun)
    if result is not None:
        from dagspec_runtime.entity.result import format_result

        lines += ["", format_result(result)]
    process = process_report(dagrun, dag)
    if process is not None:
        lines += ["", format_process_report(process)]
    return "\n".join(lines)


def summary(dagrun: Any, order: Sequence[str] = (), dag: Any = None) -> dict[str, Any]:
    """The run as data: what `--format json` prints."""
    return {
        "dag_id": dagrun.dag_id,
        "run_id": dagrun.run_id,
        "state": str(dagrun.state),
        "tasks": [
            {"task_id": task, "state": state} for task, state in task_states(dagrun, order)
        ],
        "pipeline_result": pipeline_result(dagrun),
        "process_report": process_report(dagrun, dag),
    }


def markdown(dagrun: Any, order: Sequence[str] = (), dag: Any = None) -> str:
    """The run as Markdown tables (for CI step summaries and pull request comments)."""
    data = summary(dagrun, order, dag)
    lines = [f"**{data['dag_id']}** run `{data['run_id']}`: **{data['state']}**", "",
             "| task | state |", "|---|---|"]
    lines += [f"| {t['task_id']} | {t['state']} |" for t in data["tasks"]]
    result = data["pipeline_result"]
    if result is not None:
        lines += ["", f"Pipeline status **{result['status']}**, promoted: "
                  f"{'yes' if result['promoted'] else 'no'}", "",
                  "| phase | module | required | status | ms |", "|---|---|---|---|---|"]
        for phase in result["phases"]:
            for module in phase["modules"]:
                lines.append(f"| {phase['name']} | {module['name']} | "
                             f"{'yes' if module['required'] else 'no'} | {module['status']} | "
                             f"{module.get('duration_ms') or ''} |")
    process = data["process_report"]
    if process is not None:
        lines += ["", "| status | attempts | inserted rows | quarantined rows | duration s | "
                  "evidence |", "|---|---|---|---|---|---|",
                  f"| {process['status']} | {process['attempts']}/{process['max_attempts']} | "
                  f"{process['inserted_rows']} | {process['quarantined_rows']} | "
                  f"{process['duration_s']} | "
                  f"{process['reconciliation_metrics']['data_contract_evidence'] or '-'} |"]
        lines += [f"- error: {e}" for e in process["errors"]]
        lines += [f"- skipped, claimed by run `{s['holder_run_id']}`: {s['path']}"
                  for s in process["skipped_claimed"]]
        lines += [f"- failed unit {u['unit_id']} ({u['path']}): {u['message']}"
                  for u in process["failed_units"]]
    return "\n".join(lines)


def run(dag: Any, conf: dict[str, Any] | None = None, retries: int | None = None,
        retry_delay: float | None = None) -> Any:
    """``dag.test()`` with ``conf`` (and retry overrides for every task); the finished DagRun."""
    from datetime import timedelta

    for task in dag.tasks:
        if retries is not None:
            task.retries = retries
        if retry_delay is not None:
            task.retry_delay = timedelta(seconds=retry_delay)
    return dag.test(run_conf=conf or None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dagspec_runtime.local_run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("dag_file", type=Path)
    parser.add_argument("--dag-id")
    parser.add_argument("--conf", default="{}", help="run conf as a JSON object")
    parser.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    parser.add_argument("--retries", type=int, help="retries of each task (overrides the DAG)")
    parser.add_argument("--retry-delay", type=float, help="seconds before each retry")
    args = parser.parse_args(argv)
    try:
        conf = json.loads(args.conf)
    except ValueError as exc:
        print(f"error: --conf is not JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(conf, dict):
        print("error: --conf must be a JSON object", file=sys.stderr)
        return EXIT_USAGE
    try:
        dag = load_dag(args.dag_file, args.dag_id)
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from airflow.sdk.exceptions import ParamValidationError

    ensure_bundle(args.dag_file)
    try:
        dagrun = run(dag, conf, args.retries, args.retry_delay)
    except ParamValidationError as exc:
        print(f"error: invalid params for {dag.dag_id}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    order = list(dag.task_dict)
    if args.format == "json":
        print(json.dumps(summary(dagrun, order, dag), indent=2, default=str))
    elif args.format == "markdown":
        print(markdown(dagrun, order, dag))
    else:
        print(report(dagrun, order, dag))
    return EXIT_OK if str(dagrun.state) == "success" else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
