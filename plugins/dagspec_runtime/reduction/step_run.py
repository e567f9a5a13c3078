"""One reduction step for one sub-group, without Airflow: reuse or plan the job, record it.

ReductionStepOperator calls these around SlurmSubmitOperator's submit and deferral; the fast
local runner (`dagspec run`, see `local_step`) calls the same functions around a blocking wait,
so both paths reuse, render, record and link products alike.

- `prepare_step`: the sub-group's inputs (raw files, or the upstream steps' products), the
  input fingerprint, the version the policy picks; a still-valid earlier result (`reused`) or
  the job to submit and the record plan.
- `finish_step` / `record_failure`: the executed step, its typed data products and lineage.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagspec_runtime.errors import StepFailed, StepSkipped
from dagspec_runtime.reduction import schema
from dagspec_runtime.reduction.command import container_image, render_command, wrap_in_container
from dagspec_runtime.reduction.fingerprint import input_fingerprint
from dagspec_runtime.reduction.grouping import path_safe
from dagspec_runtime.reduction.job_files import jobs_root, require_visible
from dagspec_runtime.reduction.meta_db import project_path
from dagspec_runtime.reduction.products import DATA_TYPES, collect
from dagspec_runtime.reduction.step_spec import PipelineSpec, StepSpec
from dagspec_runtime.reduction.store import ReductionStore
from dagspec_runtime.reduction.version_policy import choose_version, reusable_versions
from dagspec_runtime.slurm.submit import JobRequest
from dagspec_runtime.slurm.try_identity import TryKey

PLAN_KEY = "reduction_plan"


@dataclass
class PreparedStep:
    """Either `reused` (an earlier result that still holds) or the job and its record plan."""

    reused: dict[str, Any] | None = None
    request: JobRequest | None = None
    plan: dict[str, Any] | None = None
    out_dir: Path | None = None


def one_sub_group(value: Any) -> dict[str, Any]:
    """A non-mapped step may be handed the discover task's whole list: it must hold one group."""
    if isinstance(value, list):
        if not value:
            raise StepSkipped("no sub-group: the grouping matched no raw data")
        if len(value) != 1:
            raise StepFailed(f"expected exactly one sub-group, got {len(value)}")
        value = value[0]
    if not isinstance(value, dict) or "key" not in value or "packages" not in value:
        raise StepFailed(f"not a sub-group: {value!r}")
    return value


def upstream_products(
    results: Sequence[Any], wanted: Sequence[str], raw_ids: set[int], looked_at: Sequence[str]
) -> list[dict[str, Any]]:
    """Data products of the upstream steps' results (this run) that share raw packages with
    this sub-group: same group_by → the same sub-group; finer → all its parts."""
    chosen = [
        r for r in results if isinstance(r, dict) and raw_ids & set(r.get("raw_package_ids") or ())
    ]
    missing = set(wanted) - {r["step"] for r in chosen}
    if missing:
        raise StepFailed(
            f"no result of upstream step(s) {sorted(missing)} for these raw packages "
            f"{sorted(raw_ids)} in this run (tasks looked at: {list(looked_at)})"
        )
    products = [o for r in chosen for o in r["outputs"] if o["type"] in DATA_TYPES]
    return sorted(products, key=lambda o: o["path"])


def prepare_step(
    *,
    pipeline: Mapping[str, Any],
    step: Mapping[str, Any],
    group: Mapping[str, Any],
    store: ReductionStore,
    upstream: Sequence[str],
    upstream_results: Sequence[Any],
    upstream_tasks: Sequence[str],
    products_root: str,
    project_root: str | None,
    partition: str | None,
    account: str | None,
    log: Any,
    storage: str | None = None,
) -> PreparedStep:
    """Reuse a still-valid result of the same inputs, or plan the job (nothing submitted)."""
    spec, pipe = StepSpec.parse(step), PipelineSpec.parse(pipeline)
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
    if upstream:
        parents = upstream_products(upstream_results, upstream, set(raw_ids), upstream_tasks)
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
        log.info(
            "Reusing executed step %s (version %s, job %s) for %s/%s: inputs unchanged and "
            "version policy %s accepts it; no Slurm job submitted",
            reused["executed_step_id"],
            reused["software_version"],
            reused["hpc_job_id"],
            spec.name,
            key,
            spec.version_policy,
        )
        return PreparedStep(reused={**reused, "reused": True, "raw_package_ids": raw_ids})
    products = project_path(products_root, project_root)
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
    command = wrap_in_container(command, spec.container, image_ref)
    request = JobRequest(
        job_name=f"{pipe.name}.{spec.name}",
        command=command,
        # Batch scripts and Slurm output files: where every worker and Slurm node sees them.
        output_dir=str(jobs_root(storage, products)),
        resources=spec.resources,
        partition=partition,
        account=account,
        environment={
            **spec.environment,
            "DAGSPEC_PIPELINE": pipe.name,
            "DAGSPEC_STEP": spec.name,
            "DAGSPEC_SUB_GROUP_KEY": key,
            "DAGSPEC_SOFTWARE_VERSION": version.version,
            "DAGSPEC_OUTPUT_DIR": str(out_dir),
        },
        workdir=project_root,
    )
    plan = {
        "pipeline": pipe.name,
        "step": spec.name,
        "sub_group_key": key,
        "software_version_id": version.id,
        "software_version": version.version,
        "version_policy": spec.version_policy,
        "input_fingerprint": fingerprint,
        "output_dir": str(out_dir),
        "command": command,
        "raw_package_ids": raw_ids,
        "parent_product_ids": [int(p["id"]) for p in parents],
        "cpu": spec.resources.get("cpu") or 1,
    }
    log.info(
        "Step %s for %s with %s %s: %s", spec.name, key, spec.software, version.version, command
    )
    return PreparedStep(request=request, plan=plan, out_dir=out_dir)


def reset_output(out_dir: Path, attached: str | None) -> None:
    """A fresh output folder, unless re-attaching to this try's job (which writes there):
    leftovers of a failed try must not become products."""
    if attached is None and out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def record_failure(
    store: ReductionStore, plan: Mapping[str, Any], event: Mapping[str, Any], who: TryKey
) -> int:
    """The executed step of a job that did not complete (status FAILED)."""
    return _record(store, plan, event, schema.FAILED, who)


def finish_step(
    store: ReductionStore,
    plan: Mapping[str, Any],
    job: Mapping[str, Any],
    event: Mapping[str, Any],
    who: TryKey,
    log: Any,
) -> dict[str, Any]:
    """Record a COMPLETED step and every output file as a typed product with lineage; the
    step result downstream steps read."""
    # The worker finishing the step may not be the one that submitted: it must see the files.
    out_dir = require_visible(Path(plan["output_dir"]), "the step's output folder")
    log_path = require_visible(Path(job["output_path"]), "the Slurm job's output file")
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log_path, out_dir / "logs" / f"slurm-{job['hpc_job_id']}.out")
    files = collect(out_dir)
    step_id = _record(store, plan, event, schema.COMPLETED, who, job)
    store.record_products(step_id, files, plan["raw_package_ids"], plan["parent_product_ids"])
    result = store.step_result(step_id)
    log.info(
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


def _record(
    store: ReductionStore,
    plan: Mapping[str, Any],
    event: Mapping[str, Any],
    status: str,
    who: TryKey,
    job: Mapping[str, Any] | None = None,
) -> int:
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
            "dag_id": who.dag_id,
            "run_id": who.run_id,
            "task_id": who.task_id,
            "map_index": who.map_index,
            "try_number": who.try_number,
        }
    )
