"""SlurmSubmitOperator: submit a step as a real sbatch job and wait for it without a worker slot."""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from dagspec_runtime.slurm import slurm_cli
from dagspec_runtime.slurm.batch_script import render_batch_script
from dagspec_runtime.slurm.job_states import REATTACH_STATES, SUCCESS_STATES
from dagspec_runtime.slurm.job_trigger import SlurmJobTrigger
from dagspec_runtime.slurm.log_tail import tail_lines
from dagspec_runtime.slurm.sbatch_flags import resource_flags
from dagspec_runtime.slurm.try_identity import TryKey

TAIL_LINES = 20


class SlurmSubmitOperator(BaseOperator):
    """Run `command` as a Slurm batch job with `resources`; succeed iff the job COMPLETED.

    Pushes `hpc_job_id` to XCom as soon as the job exists and returns a result dict (hpc_job_id,
    state, exit_code, execution_command, processing_time_s, peak_memory_gb, output_path).
    A re-run of the same task try re-attaches to that try's job instead of submitting again.
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
        resource_flags(self.hpc_resources)  # bad resources fail at DAG parse, not at run time
        self._job_id: str | None = None

    def execute(self, context: Context) -> None:
        key = _try_key(context)
        stem = key.stem(self.output_dir)
        script_path = stem.with_name(stem.name + ".sh")
        argv = slurm_cli.sbatch_argv(str(script_path), key.comment())
        job_id = self._find_job_of_this_try(key.comment())
        timing: dict[str, float] = {}
        if job_id is None:
            stem.parent.mkdir(parents=True, exist_ok=True)
            script_path.write_text(self._batch_script(stem))
            timing["submitted_at"] = time.time()
            job_id = slurm_cli.submit(argv)
            self.log.info("Submitted Slurm job %s: %s", job_id, shlex.join(argv))
        self._job_id = job_id
        context["ti"].xcom_push(key="hpc_job_id", value=job_id)
        self.defer(
            trigger=SlurmJobTrigger(
                job_id=job_id,
                poll_interval=self.poll_interval,
                context={
                    "execution_command": shlex.join(argv),
                    "output_path": f"{stem}.{job_id}.out",
                    **timing,
                },
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Turn the trigger's final event into the step result, or fail with the log tail."""
        extra = event.get("context") or {}
        self._job_id = job_id = str(event["job_id"])
        output_path = extra.get("output_path", "")
        result = {
            "hpc_job_id": job_id,
            "state": event["state"],
            "exit_code": event.get("exit_code"),
            "execution_command": extra.get("execution_command"),
            "processing_time_s": event.get("runtime_s"),
            "peak_memory_gb": event.get("peak_memory_gb"),
            "output_path": output_path,
        }
        if "submitted_at" in extra:
            self.log.info(
                "Slurm job %s %s after %.1f s since submit (run time %s s, source %s)",
                job_id,
                event["state"],
                time.time() - float(extra["submitted_at"]),
                event.get("runtime_s"),
                event.get("source"),
            )
        if event["state"] in SUCCESS_STATES:
            return result
        tail = tail_lines(output_path, TAIL_LINES)
        message = (
            f"Slurm job {job_id} ended {event['state']} "
            f"(exit code {event.get('exit_code')}, signal {event.get('signal')}); "
            f"last {len(tail)} lines of {output_path}:\n" + "\n".join(tail)
        )
        self.log.error("%s", message)
        raise AirflowException(message)

    def on_kill(self) -> None:
        """The task was killed while it held a worker: cancel its job too."""
        if self._job_id:
            self.log.info("Task killed: scancel %s", self._job_id)
            slurm_cli.cancel(self._job_id)

    def _batch_script(self, stem: Path) -> str:
        return render_batch_script(
            job_name=self.job_name,
            command=self.command,
            flags=resource_flags(self.hpc_resources),
            partition=self.partition,
            account=self.account,
            environment=self.environment,
            workdir=self.workdir,
            output_path=f"{stem}.%j.out",
        )

    def _find_job_of_this_try(self, comment: str) -> str | None:
        """Newest live or completed job carrying this try's comment; a failed one is not reused."""
        mine = [row for row in slurm_cli.list_jobs() if row.comment == comment]
        for row in sorted(mine, key=lambda r: int(r.job_id), reverse=True):
            if row.state in REATTACH_STATES:
                self.log.info("Re-attaching to job %s (%s) of this try", row.job_id, row.state)
                return row.job_id
        return None


def _try_key(context: Context) -> TryKey:
    ti = context["ti"]
    return TryKey(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=-1 if ti.map_index is None else int(ti.map_index),
        try_number=int(ti.try_number),
    )
