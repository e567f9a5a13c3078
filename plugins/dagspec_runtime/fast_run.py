"""The fast path: run one run plan in this process, without Airflow, and build its report.

The compiler hands over a plan (``run_plan.Plan``) and the trigger conf; this validates the
conf against the plan's params like Airflow's ``Param`` does, applies retry overrides, gives the
run its tag and guard (``cancel.owned_run``), runs the plan with ``local_scheduler.Scheduler``
and returns the same report (``run_report``) the Airflow path builds from a ``dag.test()`` run.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dagspec_runtime import cancel, ownership, run_report
from dagspec_runtime.cancel import Interrupted
from dagspec_runtime.local_scheduler import Outcome, Scheduler
from dagspec_runtime.run_context import RunContext
from dagspec_runtime.run_plan import Plan
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
    an interrupt still returns a report (``status`` interrupted, ``interrupted`` the signal)."""
    from dagspec_runtime.calls import STEPS

    plan = Plan.from_data(plan_data)
    for task in plan.tasks:
        if retries is not None:
            task.retries = retries
        if retry_delay is not None:
            task.retry_delay_seconds = retry_delay
    params = resolve_params(plan, conf or {})
    run_id = run_id or new_run_id()
    log = log or stderr_logger()
    started = time.monotonic()
    interrupted: Interrupted | None = None
    with cancel.owned_run() as tag:
        ctx = RunContext(run_id, params, log, dag_id=plan.dag_id, run_tag=tag)
        ctx.on_cancel(lambda: cancel.end_run(tag, log.error))
        previous = os.environ.get(ownership.RUN_TAG_ENV)
        os.environ[ownership.RUN_TAG_ENV] = tag  # module processes are recorded under it
        try:
            outcomes = Scheduler(plan, STEPS, ctx).run(handle_signals=handle_signals)
        except Interrupted as exc:
            interrupted, outcomes = exc, exc.outcomes
        finally:
            if previous is None:
                os.environ.pop(ownership.RUN_TAG_ENV, None)
            else:
                os.environ[ownership.RUN_TAG_ENV] = previous
    # Airflow decides a run's state by its leaf tasks: a failed optional module whose phase
    # gate and pipeline result succeed leaves a successful run (status warning).
    leaves = set(plan.leaves())
    failed = any(
        o.task_id in leaves and o.state in ("failed", "upstream_failed") for o in outcomes.values()
    )
    state = "failed" if failed or interrupted else "success"
    return run_report.build(
        process=_process_report(plan, run_id, state, outcomes, time.monotonic() - started),
        dag_id=plan.dag_id,
        kind=plan.kind,
        run_id=run_id,
        state=state,
        tasks=[vars(o) for o in outcomes.values()],
        values={**ctx.values, **{k: o.value for k, o in outcomes.items() if o.value is not None}},
        duration_s=time.monotonic() - started,
        interrupted=interrupted.signame if interrupted else None,
        cancelled=interrupted.cancelled if interrupted else (),
        slurm_failures=run_report.slurm_failures(
            (o.task_id, o.map_index, o.state, _job(o.value)) for o in outcomes.values()
        ),
    )


def _job(value: Any) -> Any:
    """The Slurm job outcome a step returned with its value, if it ran one."""
    return value.get(OUTCOME_KEY) if isinstance(value, dict) else None


def _process_report(
    plan: Plan, run_id: str, state: str, outcomes: Mapping[str, Outcome], duration_s: float
) -> dict[str, Any] | None:
    """A manifest run's process report, from the run folder its gates wrote (as the Airflow
    path builds it)."""
    if plan.kind != "Manifest" or not plan.tasks:
        return None
    first = plan.tasks[0]
    return run_report.process_report(
        first.kwargs["process"],
        run_id,
        run_root=first.kwargs.get("run_root"),
        storage=first.kwargs.get("storage"),
        attempts=max((o.attempts for o in outcomes.values()), default=1) or 1,
        max_attempts=max(t.max_attempts for t in plan.tasks),
        passed=state == "success",
        duration_s=duration_s,
    )
