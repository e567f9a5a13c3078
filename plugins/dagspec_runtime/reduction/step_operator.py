"""ReductionStepOperator: one reduction step for one sub-group, as a Slurm job or a reuse.

Before submitting it asks the meta database for a still-valid result of the same step and
sub-group with the same input fingerprint (the version policy decides which versions count);
if there is one, no job runs. Otherwise it renders the command, submits through
SlurmSubmitOperator's machinery (deferring while the job runs), and on success records the
executed step, every output file as a typed data product, and lineage to the raw packages and
upstream products that went in.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from dagspec_runtime.metalog.engine import DEFAULT_CONN_ID
from dagspec_runtime.reduction import schema
from dagspec_runtime.reduction.command import container_image, render_command, wrap_in_container
from dagspec_runtime.reduction.fingerprint import input_fingerprint
from dagspec_runtime.reduction.grouping import path_safe
from dagspec_runtime.reduction.job_files import jobs_root, require_visible
from dagspec_runtime.reduction.meta_db import open_store, project_path
from dagspec_runtime.reduction.products import DATA_TYPES, collect
from dagspec_runtime.reduction.step_spec import PipelineSpec, StepSpec
from dagspec_runtime.reduction.store import ReductionStore
from dagspec_runtime.reduction.version_policy import choose_version, reusable_versions
from dagspec_runtime.slurm.run_jobs import current_run_tag
from dagspec_runtime.slurm.submit_operator import SlurmSubmitOperator, _try_key

PLAN_KEY = "reduction_plan"


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
        spec, pipe = StepSpec.parse(self.step), PipelineSpec.parse(self.pipeline)
        group = _one_sub_group(self.sub_group)
        store = self._store()
        software = pipe.software[spec.software]
        version = choose_version(
            spec.version_policy, spec.pinned_version, store.versions(spec.software), spec.software
        )
        image_ref = (
            container_image(spec.image_template, software.image, version.version)
            if spec.container == "apptainer"
            else None
        )
        raw_ids = [int(p["id"]) for p in group["packages"]]
        raw_files = [f for p in group["packages"] for f in p["files"]]
        labels = [f"raw:{p['name']}:{p['checksum']}" for p in group["packages"]]
        parents: list[dict[str, Any]] = []
        inputs = raw_files
        if self.upstream_steps:
            parents = self._upstream_products(context, set(raw_ids))
            inputs = [p["path"] for p in parents]
            labels = [f"product:{p['checksum']}" for p in parents]
        fingerprint = input_fingerprint(labels, spec.config_fingerprint_source(image_ref))
        key = group["key"]

        reused = store.find_reusable(
            pipeline=pipe.name,
            step=spec.name,
            sub_group_key=key,
            fingerprint=fingerprint,
            versions=reusable_versions(spec.version_policy, spec.pinned_version),
            prefer_version=version.version,
        )
        if reused is not None:
            self.log.info(
                "Reusing executed step %s (version %s, job %s) for %s/%s: inputs unchanged and "
                "version policy %s accepts it; no Slurm job submitted",
                reused["executed_step_id"],
                reused["software_version"],
                reused["hpc_job_id"],
                spec.name,
                key,
                spec.version_policy,
            )
            return {**reused, "reused": True, "raw_package_ids": raw_ids}

        products = project_path(self.products_root, self.project_root)
        out_dir = (
            products
            / path_safe(pipe.name)
            / path_safe(spec.name)
            / path_safe(key)
            / path_safe(version.version)
            / fingerprint[:12]
        )
        command = render_command(
            spec.command_template,
            inputs=inputs,
            raw_inputs=raw_files,
            output_dir=str(out_dir),
            parameters=spec.parameters,
            sub_group=group["values"],
            sub_group_key=key,
            version=version.version,
            image=image_ref,
            step=spec.name,
            pipeline=pipe.name,
        )
        self.command = wrap_in_container(command, spec.container, image_ref)
        self.environment = {
            **spec.environment,
            "DAGSPEC_PIPELINE": pipe.name,
            "DAGSPEC_STEP": spec.name,
            "DAGSPEC_SUB_GROUP_KEY": key,
            "DAGSPEC_SOFTWARE_VERSION": version.version,
            "DAGSPEC_OUTPUT_DIR": str(out_dir),
        }
        # Batch scripts and Slurm output files: where every worker and Slurm node sees them.
        self.output_dir = str(jobs_root(self.storage, products))
        # Claiming first cancels a killed earlier try's job, which may still be writing there.
        if self._claim(_try_key(context), current_run_tag()) is None and out_dir.exists():
            shutil.rmtree(out_dir)  # leftovers of a failed try must not become products
        out_dir.mkdir(parents=True, exist_ok=True)
        self._plan = {
            "pipeline": pipe.name,
            "step": spec.name,
            "sub_group_key": key,
            "software_version_id": version.id,
            "software_version": version.version,
            "version_policy": spec.version_policy,
            "input_fingerprint": fingerprint,
            "output_dir": str(out_dir),
            "command": self.command,
            "raw_package_ids": raw_ids,
            "parent_product_ids": [int(p["id"]) for p in parents],
            "cpu": spec.resources.get("cpu") or 1,
        }
        self.log.info(
            "Step %s for %s with %s %s: %s",
            spec.name,
            key,
            spec.software,
            version.version,
            self.command,
        )
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
                self._record(store, context, plan, event, schema.FAILED)
            raise
        # This worker may not be the one that submitted: it must see what the job wrote.
        out_dir = require_visible(Path(plan["output_dir"]), "the step's output folder")
        log_path = require_visible(Path(job["output_path"]), "the Slurm job's output file")
        (out_dir / "logs").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_path, out_dir / "logs" / f"slurm-{job['hpc_job_id']}.out")
        files = collect(out_dir)
        step_id = self._record(store, context, plan, event, schema.COMPLETED, job)
        store.record_products(step_id, files, plan["raw_package_ids"], plan["parent_product_ids"])
        result = store.step_result(step_id)
        self.log.info(
            "Recorded executed step %s (%s %s for %s, job %s): %d data product(s) %s",
            step_id,
            plan["step"],
            plan["software_version"],
            plan["sub_group_key"],
            job["hpc_job_id"],
            len(files),
            sorted({f.product_type for f in files}),
        )
        return {**result, "reused": False, "raw_package_ids": plan["raw_package_ids"]}

    # -- helpers ----------------------------------------------------------------------------
    def _store(self) -> ReductionStore:
        return open_store(self.meta_conn_id, self.meta_sqlite_path, self.project_root)

    def _record(
        self,
        store: ReductionStore,
        context: Any,
        plan: Mapping[str, Any],
        event: Mapping[str, Any],
        status: str,
        job: Mapping[str, Any] | None = None,
    ) -> int:
        ti = context["ti"]
        runtime = (job or {}).get("processing_time_s", event.get("runtime_s"))
        extra = event.get("context") or {}
        return store.record_step(
            {
                "pipeline": plan["pipeline"],
                "step": plan["step"],
                "sub_group_key": plan["sub_group_key"],
                "software_version_id": plan["software_version_id"],
                "software_version": plan["software_version"],
                "version_policy": plan["version_policy"],
                "status": status,
                "input_fingerprint": plan["input_fingerprint"],
                "output_dir": plan["output_dir"],
                "hpc_job_id": str(event.get("job_id")),
                "execution_command": extra.get("execution_command"),
                "command": plan["command"],
                "processing_time_s": runtime,
                "peak_memory_gb": event.get("peak_memory_gb"),
                "cpu_hours": None if runtime is None else runtime * float(plan["cpu"]) / 3600,
                "dag_id": ti.dag_id,
                "run_id": ti.run_id,
                "task_id": ti.task_id,
                "map_index": -1 if ti.map_index is None else int(ti.map_index),
                "try_number": int(ti.try_number),
            }
        )

    def _upstream_products(self, context: Any, raw_ids: set[int]) -> list[dict[str, Any]]:
        """Data products of the upstream steps' results (this run) that share raw packages with
        this sub-group: same group_by → the same sub-group; finer → all its parts."""
        wanted = set(self.upstream_steps)
        task_ids = [
            t.task_id
            for t in self.dag.tasks
            if isinstance(t, ReductionStepOperator) and t.step.get("name") in wanted
        ]
        pulled = context["ti"].xcom_pull(task_ids=task_ids) or []
        results = [r for r in pulled if isinstance(r, dict)]
        chosen = [r for r in results if raw_ids & set(r.get("raw_package_ids") or ())]
        missing = wanted - {r["step"] for r in chosen}
        if missing:
            raise AirflowException(
                f"no result of upstream step(s) {sorted(missing)} for these raw packages "
                f"{sorted(raw_ids)} in this run (tasks looked at: {task_ids})"
            )
        products = [o for r in chosen for o in r["outputs"] if o["type"] in DATA_TYPES]
        return sorted(products, key=lambda o: o["path"])


def _one_sub_group(value: Any) -> dict[str, Any]:
    """A non-mapped step may be handed the discover task's whole list: it must hold one group."""
    if isinstance(value, list):
        if not value:
            raise AirflowSkipException("no sub-group: the grouping matched no raw data")
        if len(value) != 1:
            raise AirflowException(f"expected exactly one sub-group, got {len(value)}")
        value = value[0]
    if not isinstance(value, dict) or "key" not in value or "packages" not in value:
        raise AirflowException(f"not a sub-group: {value!r}")
    return value
