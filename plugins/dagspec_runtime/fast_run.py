"""Run one run plan locally without Airflow and build its report.

The compiler hands over a plan (see ``executor.Plan``) and the trigger conf; this validates the
conf against the plan's params like Airflow's ``Param`` does, applies retry overrides, runs the
plan and returns the same report ``local_run`` builds from a ``dag.test()`` run.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dagspec_runtime import ownership, run_report
from dagspec_runtime.executor import Interrupted, Outcome, Plan, RunContext, run_plan
from dagspec_runtime.slurm import run_guard
from dagspec_runtime.slurm.outcome import OUTCOME_KEY


class ConfError(ValueError):
    """The trigger conf does not fit the DAG's params (Airflow's ParamValidationError)."""


def resolve_params(plan: Plan, conf: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``conf``, each declared param checked against its schema."""
    import jsonschema

    params = {name: spec.get("default") for name, spec in plan.params.items()}
    params.update(conf)
    for name, spec in plan.params.items():
        try:
            jsonschema.validate(params[name], spec.get("schema") or {})
        except jsonschema.ValidationError as exc:
            raise ConfError(
                f"invalid params for {plan.dag_id}: param {name!r}: {exc.message}"
            ) from None
    return params


def stderr_logger(level: int = logging.INFO) -> logging.Logger:
    """Task logs go to stderr (stdout holds only the report)."""
    log = logging.getLogger("dagspec.run")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
        )
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level)
    return log


def new_run_id() -> str:
    return "manual__" + datetime.now(UTC).isoformat()


def run(
    plan_data: Mapping[str, Any],
    conf: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    retries: int | None = None,
    retry_delay: float | None = None,
    log: logging.Logger | None = None,
    handle_signals: bool = True,
) -> dict[str, Any]:
    """Run the plan; its report. ``ConfError`` before anything runs when the conf is invalid;
    an interrupt still returns a report (``status`` interrupted, ``exit_code`` 130/143/129)."""
    from dagspec_runtime.calls import STEPS

    plan = Plan.from_data(plan_data)
    for task in plan.tasks:
        if retries is not None:
            task.retries = retries
        if retry_delay is not None:
            task.retry_delay_seconds = retry_delay
    params = resolve_params(plan, conf or {})
    run_id = run_id or new_run_id()
    tag = ownership.new_tag()
    ctx = RunContext(run_id, params, log or stderr_logger(), dag_id=plan.dag_id, run_tag=tag)
    ctx.on_cancel(lambda: ownership.end_run(tag))
    started = time.monotonic()
    interrupted: Interrupted | None = None
    guard = run_guard.start(tag)  # ends what the run started should this process be killed
    previous = os.environ.get(ownership.RUN_TAG_ENV)
    os.environ[ownership.RUN_TAG_ENV] = tag  # module processes are recorded under it
    try:
        outcomes = run_plan(plan, STEPS, ctx, handle_signals=handle_signals)
    except Interrupted as exc:
        interrupted, outcomes = exc, exc.outcomes
    finally:
        if previous is None:
            os.environ.pop(ownership.RUN_TAG_ENV, None)
        else:
            os.environ[ownership.RUN_TAG_ENV] = previous
        run_guard.stop(guard)
        ownership.discard(tag)
    # Airflow decides a run's state by its leaf tasks: a failed optional module whose phase
    # gate and pipeline result succeed leaves a successful run (status warning).
    leaves = set(plan.leaves())
    failed = any(
        o.task_id in leaves and o.state in ("failed", "upstream_failed") for o in outcomes.values()
    )
    state = "failed" if failed or interrupted else "success"
    report = run_report.build(
        process=_process_report(plan, run_id, state, outcomes, time.monotonic() - started),
        dag_id=plan.dag_id,
        kind=plan.kind,
        run_id=run_id,
        state=state,
        tasks=[vars(o) for o in outcomes.values()],
        values={**ctx.values, **{k: o.value for k, o in outcomes.items() if o.value is not None}},
        duration_s=time.monotonic() - started,
        interrupted=interrupted.args[0] if interrupted else None,
        cancelled=interrupted.cancelled if interrupted else (),
        slurm_failures=slurm_failures(outcomes),
    )
    report["exit_code"] = interrupted.exit_code if interrupted else run_report.exit_code(report)
    return report


def slurm_failures(outcomes: Mapping[str, Outcome]) -> list[dict[str, Any]]:
    """The job outcome of every failed task that ran a Slurm job (as the Airflow path reads
    them from XCom ``slurm_job``)."""
    found = []
    for outcome in outcomes.values():
        job = outcome.value.get(OUTCOME_KEY) if isinstance(outcome.value, dict) else None
        if outcome.state == "failed" and isinstance(job, dict):
            index = -1 if outcome.map_index is None else outcome.map_index
            found.append({"task_id": outcome.task_id, "map_index": index, **job})
    return sorted(found, key=lambda item: (item["task_id"], item["map_index"]))


def _process_report(
    plan: Plan, run_id: str, state: str, outcomes: Mapping[str, Any], duration_s: float
) -> dict[str, Any] | None:
    """A manifest run's process report, from the run folder its gates wrote (as the Airflow
    path builds it)."""
    if plan.kind != "Manifest" or not plan.tasks:
        return None
    from dagspec_runtime.etl.config import ProcessConfig
    from dagspec_runtime.etl.gate_task import run_folder_root
    from dagspec_runtime.etl.report import FAILED, SUCCESS, from_run_folder
    from dagspec_runtime.etl.runfolder import run_dir

    first = plan.tasks[0]
    cfg = ProcessConfig.parse(first.kwargs["process"])
    attempts = max((o.attempts for o in outcomes.values()), default=1) or 1
    with run_folder_root(
        cfg.name, run_id, first.kwargs.get("run_root"), first.kwargs.get("storage")
    ) as root:
        return from_run_folder(
            run_dir(root, cfg.name, run_id),
            cfg.name,
            run_id,
            attempts=attempts,
            max_attempts=max(t.max_attempts for t in plan.tasks),
            status=SUCCESS if state == "success" else FAILED,
            duration_s=duration_s,
        ).to_dict()
