"""ReductionPipeline runtime (seed 004): discover sub-groups, run reduction steps on Slurm,
record executed steps and data products with lineage in the meta database.

DAG shape (what the compiler's template emits; every argument is a literal):

    software = RegisterSoftwareOperator(task_id="register_software", pipeline=PIPELINE, ...)
    per_scan_groups = DiscoverSubGroupsOperator(task_id="discover_per_scan", pipeline=PIPELINE,
                                                group_by=["executed_obs_unit"], cooldown_seconds=60)
    @task_group(group_id="per_scan")
    def per_scan(sub_group):
        calibrate = ReductionStepOperator(task_id="calibrate", pipeline=PIPELINE,
                                          step=STEPS["calibrate"], sub_group=sub_group, ...)
        ...
    scans = per_scan.expand(sub_group=per_scan_groups.output)

One discover task and one mapped task group per distinct `group_by`; steps sharing a group_by
share the group (a downstream step fires per sub-group once its upstream finished for that
sub-group); a coarser group runs after the whole finer group (`scans >> all_data`).

Command templates are Python `str.format` fields (not Jinja) over a fixed context, every value
shell-quoted: `{inputs}` (the raw files of the sub-group, or the SCIENCE/INTERMEDIATE products of
the upstream steps), `{raw_inputs}`, `{output_dir}`, `{parameters[name]}`,
`{sub_group[field]}`, `{sub_group_key}`, `{version}`, `{image}`, `{step}`, `{pipeline}`.
Programs write into `{output_dir}/{science,intermediate,qa,plots,statistics,logs}/`, which types
the data products. The job also gets DAGSPEC_PIPELINE, DAGSPEC_STEP, DAGSPEC_SUB_GROUP_KEY,
DAGSPEC_SOFTWARE_VERSION and DAGSPEC_OUTPUT_DIR in its environment.

Containers are explicit: step key `container: apptainer` runs
`apptainer exec <image_template> /bin/sh -c <command>` (image_template default
`{image}:{version}`); `container: none` (the default) runs the command as is.

Operators are imported lazily so the pure helpers stay importable without Airflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagspec_runtime.reduction.discover_operator import DiscoverSubGroupsOperator
    from dagspec_runtime.reduction.software_operator import RegisterSoftwareOperator
    from dagspec_runtime.reduction.step_operator import ReductionStepOperator
    from dagspec_runtime.reduction.wait_operator import WaitForNewDataOperator

__all__ = [
    "DiscoverSubGroupsOperator",
    "ReductionStepOperator",
    "RegisterSoftwareOperator",
    "WaitForNewDataOperator",
]

_WHERE = {
    "DiscoverSubGroupsOperator": "dagspec_runtime.reduction.discover_operator",
    "ReductionStepOperator": "dagspec_runtime.reduction.step_operator",
    "RegisterSoftwareOperator": "dagspec_runtime.reduction.software_operator",
    "WaitForNewDataOperator": "dagspec_runtime.reduction.wait_operator",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
