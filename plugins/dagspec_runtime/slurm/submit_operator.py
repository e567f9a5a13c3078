"""SlurmSubmitOperator: submit a step as a real sbatch job and wait for it without a worker slot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from dagspec_runtime.airflow_compat import AirflowException
from dagspec_runtime.slurm import slurm_cli
from dagspec_runtime.slurm.job_trigger import SlurmJobTrigger
from dagspec_runtime.slurm.outcome import OUTCOME_KEY, JobOutcome, final_event
from dagspec_runtime.slurm.run_jobs import (
    cancel_run,
    claim_try,
    current_run_tag,
    wait_for_final,
)
from dagspec_runtime.slurm.sbatch_flags import resource_flags
from dagspec_runtime.slurm.submit import JobFailed, JobRequest, job_result, submit_try
from dagspec_runtime.slurm.try_identity import TryKey

# Short jobs finish inside the worker: no deferral, no resume, no triggerer round trip.
WAIT_IN_WORKER_S = 5.0


class SlurmSubmitOperator(BaseOperator):
    """Run `command` as a Slurm batch job with `resources`; succeed iff the job COMPLETED.

    Pushes `hpc_job_id` to XCom as soon as the job exists, the job's outcome (state, exit code,
    times, output tail) as XCom `slurm_job` once it ended, and returns a result dict (hpc_job_id,
    state, exit_code, execution_command, processing_time_s, cpu_time_s, peak_memory_gb,
    output_path). A re-run of the same task try re-attaches to that try's job instead of
    submitting again; a new try first cancels live jobs an earlier (killed) try left behind.
    A job that ends within `wait_in_worker_s` is finished without deferring.
    """

    template_fields: Sequence[str] = ("command", "environment", "job_name", "workdir", "output_dir")
    ui_color = "#c9e4f2"

    def __init__(
        self,
        *,
        job_name: str,
        command: str,
        output_dir: str,
        resources: Mapping[str, Any] | None = None,
        partition: str | None = None,
        account: str | None = None,
        environment: Mapping[str, str] | None = None,
        workdir: str | None = None,
        poll_interval: float = 1.0,
        wait_in_worker_s: float = WAIT_IN_WORKER_S,
        settle_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.command = command
        self.output_dir = output_dir
        # BaseOperator owns `resources` (its own Resources type), hence another attribute name.
        self.hpc_resources = dict(resources or {})
        self.partition = partition
        self.account = account
        self.environment = dict(environment or {})
        self.workdir = workdir
        self.poll_interval = poll_interval
        self.wait_in_worker_s = float(wait_in_worker_s)
        self.settle_s = settle_s  # None: job_trigger.default_settle_s()
        self._claimed: tuple[TryKey, str | None] | None = None
        resource_flags(self.hpc_resources)  # bad resources fail at DAG parse, not at run time
        self._job_id: str | None = None

    def execute(self, context: Context) -> Any:
        key = _try_key(context)
        run_tag = current_run_tag()
        job_id, extra = submit_try(
            self._request(), key, run_tag, self._claim(key, run_tag), self.log
        )
        self._job_id = job_id
        context["ti"].xcom_push(key="hpc_job_id", value=job_id)
        extra.update(self._event_context())
        # A job that is already over (or ends within wait_in_worker_s) is finished here, without
        # deferring: a trigger that fires at once is what Airflow 3.3's scheduler can mistake
        # for a crashed try (see the note in job_trigger).
        status = wait_for_final(job_id, self.wait_in_worker_s)
        if status is not None:
            self.log.info("Slurm job %s ended %s before deferring", job_id, status.state)
            return self.execute_complete(context, final_event(job_id, status, extra))
        self.defer(
            trigger=SlurmJobTrigger(
                job_id=job_id,
                poll_interval=self.poll_interval,
                context=extra,
                # A local run (dagspec run) has no scheduler to race with: no settling there.
                settle_s=self.settle_s if self.settle_s is not None or not run_tag else 0.0,
            ),
            method_name="execute_complete",
        )

    def _event_context(self) -> dict[str, Any]:
        """More JSON data the resumed task needs (dag.test() resumes with the event only)."""
        return {}

    def _outcome_labels(self, event: dict[str, Any]) -> dict[str, Any]:
        """Names a run summary shows next to the job outcome (the sub-group, for a step)."""
        return {}

    def _claim(self, key: TryKey, run_tag: str | None) -> str | None:
        """This try's job to re-attach to, after cancelling live jobs of other tries (once)."""
        if self._claimed is None or self._claimed[0] != key:
            attach, cancelled = claim_try(key, run_tag)
            if cancelled:
                self.log.warning(
                    "Cancelled Slurm job(s) %s of an earlier try of this task before submitting",
                    ", ".join(cancelled),
                )
            if attach:
                self.log.info("Re-attaching to Slurm job %s of this try", attach)
            self._claimed = (key, attach)
        return self._claimed[1]

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Turn the trigger's final event into the step result, or fail with the log tail."""
        self._job_id = str(event["job_id"])
        try:
            result, outcome = job_result(event, self.log)
        except JobFailed as exc:
            self._push_outcome(context, exc.outcome, event)
            raise AirflowException(str(exc)) from None
        self._push_outcome(context, outcome, event)
        return result

    def _push_outcome(self, context: Context, outcome: JobOutcome, event: dict[str, Any]) -> None:
        context["ti"].xcom_push(
            key=OUTCOME_KEY, value={**outcome.as_dict(), **self._outcome_labels(event)}
        )

    def on_kill(self) -> None:
        """The task was killed (SIGTERM) while it held a worker: cancel its job too, and every
        live job of the local run this process belongs to (`dagspec run` sets DAGSPEC_RUN_TAG)."""
        if self._job_id:
            self.log.info("Task killed: scancel %s", self._job_id)
            slurm_cli.cancel(self._job_id)
        run_tag = current_run_tag()
        if run_tag:
            cancelled = cancel_run(run_tag=run_tag)
            if cancelled:
                self.log.info("Task killed: cancelled Slurm job(s) %s", ", ".join(cancelled))

    def _request(self) -> JobRequest:
        return JobRequest(
            job_name=self.job_name,
            command=self.command,
            output_dir=self.output_dir,
            resources=self.hpc_resources,
            partition=self.partition,
            account=self.account,
            environment=self.environment,
            workdir=self.workdir,
        )


def _try_key(context: Context) -> TryKey:
    ti = context["ti"]
    return TryKey(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=-1 if ti.map_index is None else int(ti.map_index),
        try_number=int(ti.try_number),
    )
