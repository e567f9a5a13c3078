"""ReductionStepOperator: one reduction step for one sub-group, as a Slurm job or a reuse.

Before submitting it asks the meta database for a still-valid result of the same step and
sub-group with the same input fingerprint (the version policy decides which versions count);
if there is one, no job runs. Otherwise it renders the command, submits through
SlurmSubmitOperator's machinery (deferring while the job runs), and on success records the
executed step, every output file as a typed data product, and lineage to the raw packages and
upstream products that went in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from dagspec_runtime.airflow_compat import AirflowException, AirflowSkipException
from dagspec_runtime.errors import StepFailed, StepSkipped
from dagspec_runtime.metalog.engine import DEFAULT_CONN_ID
from dagspec_runtime.reduction.meta_db import open_store
from dagspec_runtime.reduction.step_run import (
    PLAN_KEY,
    finish_step,
    one_sub_group,
    prepare_step,
    record_failure,
    reset_output,
)
from dagspec_runtime.reduction.step_spec import PipelineSpec, StepSpec
from dagspec_runtime.reduction.store import ReductionStore
from dagspec_runtime.slurm.run_jobs import current_run_tag
from dagspec_runtime.slurm.submit_operator import SlurmSubmitOperator, _try_key


class ReductionStepOperator(SlurmSubmitOperator):
    """Run `step` of `pipeline` for `sub_group` (a dict from DiscoverSubGroupsOperator, or a
    mapped-task-group argument / XComArg resolving to one, or to a one-element list).

    Inputs: the sub-group's raw files, or, when the step has upstream steps, the SCIENCE and
    INTERMEDIATE products those steps produced (in this DAG run) for overlapping sub-groups.
    Returns the executed step (id, version, outputs, `reused`) for downstream steps.
    """

    template_fields: Sequence[str] = ("sub_group",)
    ui_color = "#c9f2d8"

    def __init__(
        self,
        *,
        pipeline: dict[str, Any],
        step: dict[str, Any],
        sub_group: Any,
        project_root: str | None = None,
        meta_conn_id: str | None = DEFAULT_CONN_ID,
        meta_sqlite_path: str | None = None,
        products_root: str = "var/reduction",
        upstream_steps: Sequence[str] | None = None,
        partition: str | None = None,
        account: str | None = None,
        poll_interval: float = 1.0,
        storage: str | None = None,
        **kwargs: Any,
    ) -> None:
        spec = StepSpec.parse(step)
        pipe = PipelineSpec.parse(pipeline)
        if spec.software not in pipe.software:
            raise ValueError(f"step {spec.name!r}: software {spec.software!r} is not declared")
        kwargs.setdefault("retries", spec.max_retries)
        kwargs.setdefault("max_active_tis_per_dagrun", spec.max_concurrent_runs)
        kwargs.setdefault("priority_weight", pipe.priority)
        super().__init__(
            job_name=f"{pipe.name}.{spec.name}",
            command=spec.command_template,  # replaced by the rendered command at run time
            output_dir=products_root,
            resources=spec.resources,
            partition=partition,
            account=account,
            environment=spec.environment,
            workdir=project_root,
            poll_interval=poll_interval,
            **kwargs,
        )
        self.pipeline = pipeline
        self.step = step
        self.sub_group = sub_group
        self.project_root = project_root
        self.meta_conn_id = meta_conn_id
        self.meta_sqlite_path = meta_sqlite_path
        self.products_root = products_root
        self.storage = storage  # dagspec.yaml spec.storage.url: where the job files go
        self.upstream_steps = list(spec.depends_on if upstream_steps is None else upstream_steps)
        self._plan: dict[str, Any] = {}

    # -- run --------------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:  # type: ignore[override]
        with airflow_errors():
            group = one_sub_group(self.sub_group)
            task_ids = self._upstream_task_ids()
            results = context["ti"].xcom_pull(task_ids=task_ids) if self.upstream_steps else []
            prepared = prepare_step(
                pipeline=self.pipeline,
                step=self.step,
                group=group,
                store=self._store(),
                upstream=self.upstream_steps,
                upstream_results=results or [],
                upstream_tasks=task_ids,
                products_root=self.products_root,
                project_root=self.project_root,
                partition=self.partition,
                account=self.account,
                log=self.log,
                storage=self.storage,
            )
        if prepared.reused is not None:
            return prepared.reused
        assert prepared.request is not None and prepared.plan is not None
        assert prepared.out_dir is not None
        self.command = prepared.request.command
        self.environment = dict(prepared.request.environment)
        self.output_dir = prepared.request.output_dir
        # Claiming first cancels a killed earlier try's job, which may still be writing there.
        reset_output(prepared.out_dir, self._claim(_try_key(context), current_run_tag()))
        self._plan = prepared.plan
        return super().execute(context)

    def _event_context(self) -> dict[str, Any]:
        """Carry the plan through the trigger: the resumed task may be a fresh operator object,
        and dag.test() resumes with the event only."""
        return {PLAN_KEY: self._plan} if self._plan else {}

    def _outcome_labels(self, event: dict[str, Any]) -> dict[str, Any]:
        plan = (event.get("context") or {}).get(PLAN_KEY) or {}
        return {"step": plan.get("step"), "sub_group_key": plan.get("sub_group_key")}

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        plan = dict((event.get("context") or {}).get(PLAN_KEY) or {})
        store = self._store()
        try:
            job = super().execute_complete(context, event)
        except AirflowException:
            if plan:
                record_failure(store, plan, event, _try_key(context))
            raise
        return finish_step(store, plan, job, event, _try_key(context), self.log)

    # -- helpers ----------------------------------------------------------------------------
    def _store(self) -> ReductionStore:
        return open_store(self.meta_conn_id, self.meta_sqlite_path, self.project_root)

    def _upstream_task_ids(self) -> list[str]:
        wanted = set(self.upstream_steps)
        return [
            t.task_id
            for t in self.dag.tasks
            if isinstance(t, ReductionStepOperator) and t.step.get("name") in wanted
        ]


@contextlib.contextmanager
def airflow_errors() -> Iterator[None]:
    """The pure step's verdicts as Airflow's exceptions."""
    try:
        yield
    except StepSkipped as exc:
        raise AirflowSkipException(str(exc)) from None
    except StepFailed as exc:
        raise AirflowException(str(exc)) from None
