"""The Airflow path: run one DAG file with ``dag.test()`` in this process and report.

    python -m dagspec_runtime.local_run DAG_FILE [--dag-id ID] [--conf JSON]

Loads the file with Airflow's DagBag, runs ``dag.test()`` with the given conf and prints the
run report (``run_report``, the fast path's report): task states and, for an entity DAG, the
pipeline result's phases and modules; for every failed task that ran a Slurm job, the job's id,
state, exit code and output tail (XCom ``slurm_job``). The process ends with status 0 when the
run passed, 1 when it did not, and 2, with nothing on stdout, when nothing ran (import errors,
a rejected conf or bad arguments, as argparse does); ``dagspec run --airflow`` reads the report
and decides its own exit code.

Needs a migrated metadata database (``airflow db migrate``) in ``$AIRFLOW_HOME``. Airflow is
imported lazily so ``--help`` stays fast.

On SIGINT, SIGTERM or SIGHUP what the run started (module processes, Slurm jobs tagged with
``$DAGSPEC_RUN_TAG``) is ended (``cancel.end_run``) and the process dies of that signal. Under
``dagspec run`` this process has its own session and is killed by its parent, which then ends
the run itself (Airflow's task runner takes SIGTERM over while a task runs and would go on with
the next task).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from dagspec_runtime import cancel, run_report
from dagspec_runtime.slurm.outcome import OUTCOME_KEY as SLURM_OUTCOME_KEY

NOTHING_RAN = 2  # argparse's status for arguments it refuses; nothing is printed on stdout
RESULT_TASK_ID = run_report.RESULT_TASK_ID
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
    from dagspec_runtime.airflow_compat import dag_bag

    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    bag = dag_bag()(dag_folder=str(path))
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


def task_rows(dagrun: Any, order: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every task instance of the run as the report wants it, in ``order`` (DAG order)."""
    position = {task_id: index for index, task_id in enumerate(order)}
    rows = [
        {
            "task_id": ti.task_id,
            "state": str(ti.state) if ti.state else "none",
            "attempts": int(ti.try_number or 0),
            "max_attempts": int(ti.max_tries or 0) + 1,
            "error": None,  # Airflow keeps the message in the task log only
            "duration_s": float(ti.duration or 0.0),
            **_map_index(ti),
        }
        for ti in dagrun.get_task_instances()
    ]
    return sorted(
        rows,
        key=lambda row: (
            position.get(row["task_id"], len(position)),
            row["task_id"],
            row.get("map_index", -1),
        ),
    )


def _map_index(ti: Any) -> dict[str, int]:
    """A mapped task instance's index (absent for unmapped ones, whose index is -1)."""
    index = -1 if ti.map_index is None else int(ti.map_index)
    return {"map_index": index} if index >= 0 else {}


def return_values(dagrun: Any) -> dict[str, Any]:
    """What each task of the run returned (XCom ``return_value``), by task id."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    values: dict[str, Any] = {}
    with create_session() as session:
        rows = session.query(XComModel).filter(
            XComModel.dag_id == dagrun.dag_id,
            XComModel.run_id == dagrun.run_id,
            XComModel.key == "return_value",
        )
        for row in rows:
            value = row.value
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            values[row.task_id] = value
    return values


def process_report(dagrun: Any, dag: Any) -> dict[str, Any] | None:
    """The manifest process report (etl.report.ProcessReport) of a manifest DAG's run."""
    gates = [t for t in getattr(dag, "tasks", []) if hasattr(t, "gate") and hasattr(t, "process")]
    if not gates:
        return None
    tis = list(dagrun.get_task_instances())
    duration = 0.0
    if dagrun.start_date and dagrun.end_date:
        duration = (dagrun.end_date - dagrun.start_date).total_seconds()
    return run_report.process_report(
        gates[0].process,
        dagrun.run_id,
        run_root=gates[0].run_root,
        storage=getattr(gates[0], "storage", None),
        attempts=max((int(ti.try_number or 0) for ti in tis), default=1) or 1,
        max_attempts=max(int(t.retries or 0) for t in gates) + 1,
        passed=str(dagrun.state) == "success",
        duration_s=duration,
    )


def slurm_failures(dagrun: Any) -> list[dict[str, Any]]:
    """Outcome of every Slurm job a failed (or up-for-retry) task instance of the run ran."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        states = {
            (ti.task_id, ti.map_index): str(ti.state)
            for ti in dagrun.get_task_instances(session=session)
        }
        rows = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dagrun.dag_id,
                XComModel.run_id == dagrun.run_id,
                XComModel.key == SLURM_OUTCOME_KEY,
            )
            .all()
        )
        return run_report.slurm_failures(
            (
                row.task_id,
                row.map_index,
                states.get((row.task_id, row.map_index), ""),
                XComModel.deserialize_value(row),
            )
            for row in rows
        )


def summary(
    dagrun: Any,
    order: Sequence[str] = (),
    kind: str | None = None,
    duration_s: float = 0.0,
    dag: Any = None,
) -> dict[str, Any]:
    """The run as data: what `--format json` prints (the same report as the fast runner's)."""
    values = return_values(dagrun)
    if kind is None:
        kind = "Entity" if RESULT_TASK_ID in order else "Manifest"
    return run_report.build(
        dag_id=dagrun.dag_id,
        kind=kind,
        run_id=str(dagrun.run_id),
        state=str(dagrun.state),
        tasks=task_rows(dagrun, order),
        values=values,
        duration_s=duration_s,
        path="airflow",
        process=process_report(dagrun, dag),
        slurm_failures=slurm_failures(dagrun),
    )


class _OncePerChange(logging.Filter):
    """dag.test() logs "No tasks to run. unrunnable tasks: ..." every second while a task is
    deferred; let it through only when the list of waiting tasks changes."""

    def __init__(self) -> None:
        super().__init__()
        self._last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("No tasks to run"):
            return True
        text = record.getMessage()
        if text == self._last:
            return False
        self._last = text
        return True


def quiet_waiting() -> None:
    """Install `_OncePerChange` on dag.test()'s logger (idempotent)."""
    logger = logging.getLogger("airflow.sdk.definitions.dag")
    if not any(isinstance(f, _OncePerChange) for f in logger.filters):
        logger.addFilter(_OncePerChange())


def cancel_on_interrupt() -> None:
    """SIGINT/SIGTERM/SIGHUP: end what this run started (``cancel.end_run``), say what, and
    die of the signal."""
    from dagspec_runtime import ownership

    run_tag = ownership.current_tag()

    def warn(message: str) -> None:
        print(f"local run: {message}", file=sys.stderr)

    def interrupted(signum: int, frame: FrameType | None) -> None:
        ended = cancel.end_run(run_tag, warn) if run_tag else []
        warn(cancel.summary(signal.Signals(signum).name, ended))
        sys.stderr.flush()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for sig in cancel.SIGNALS:
        signal.signal(sig, interrupted)


def run(
    dag: Any,
    conf: dict[str, Any] | None = None,
    retries: int | None = None,
    retry_delay: float | None = None,
) -> Any:
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
    parser.add_argument("--kind", help="the spec kind (Entity, Manifest, ReductionPipeline)")
    args = parser.parse_args(argv)
    try:
        conf = json.loads(args.conf)
    except ValueError as exc:
        print(f"error: --conf is not JSON: {exc}", file=sys.stderr)
        return NOTHING_RAN
    if not isinstance(conf, dict):
        print("error: --conf must be a JSON object", file=sys.stderr)
        return NOTHING_RAN
    try:
        dag = load_dag(args.dag_file, args.dag_id)
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return NOTHING_RAN
    from dagspec_runtime.airflow_compat import ParamValidationError

    ensure_bundle(args.dag_file)
    quiet_waiting()
    cancel_on_interrupt()
    started = time.monotonic()
    try:
        with logs_to_stderr():
            dagrun = run(dag, conf, args.retries, args.retry_delay)
    except ParamValidationError as exc:
        print(f"error: invalid params for {dag.dag_id}: {exc}", file=sys.stderr)
        return NOTHING_RAN
    order = list(dag.task_dict)
    data = summary(dagrun, order, args.kind, time.monotonic() - started, dag)
    sys.stdout.write(run_report.FORMATS[args.format](data) + "\n")
    sys.stdout.flush()
    return 0 if data["passed"] else 1


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Whatever Airflow and the tasks print while the run lasts goes to stderr (file
    descriptor 1 itself is pointed at 2), so stdout holds the report alone."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


if __name__ == "__main__":
    sys.exit(main())
