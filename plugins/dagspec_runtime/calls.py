"""The runtime steps a run plan names, called the way the operators call them.

Each entry takes the run's ``RunContext`` and the task's plan kwargs (the operator's own
arguments) and calls the same pure step function as that operator's ``execute``. Imports are
lazy: an entity run never loads the ETL database layer and neither loads Airflow.
"""

from __future__ import annotations

from typing import Any

from dagspec_runtime.run_context import RunContext


def entity_prepare(run: RunContext, **kwargs: Any) -> str:
    from dagspec_runtime.entity.workspace import prepare

    return prepare(run_id=run.run_id, params=run.params, log=run.log, **kwargs)


def entity_module(run: RunContext, **kwargs: Any) -> dict[str, Any]:
    from dagspec_runtime.entity.module import run_module

    kwargs.setdefault("module", kwargs.get("name"))
    kwargs.pop("name", None)
    return run_module(
        workspace=run.workspace(),
        run_id=run.run_id,
        params=run.params,
        log=run.log,
        on_start=run.track,
        **kwargs,
    )


def entity_gate(run: RunContext, **kwargs: Any) -> dict[str, Any]:
    from dagspec_runtime.entity.gate import gate_phase

    return gate_phase(workspace=run.workspace(), log=run.log, **kwargs)


def entity_promote(run: RunContext, **kwargs: Any) -> dict[str, Any]:
    from dagspec_runtime.entity.promote import promote_run

    return promote_run(workspace=run.workspace(), params=run.params, log=run.log, **kwargs)


def entity_result(run: RunContext, **kwargs: Any) -> dict[str, Any]:
    from dagspec_runtime.entity.result import finish_run

    return finish_run(
        workspace=run.workspace(), run_id=run.run_id, params=run.params, log=run.log, **kwargs
    )


def etl_gate(run: RunContext, **kwargs: Any) -> dict[str, Any]:
    from dagspec_runtime.etl.gate_task import run_gate_task
    from dagspec_runtime.metalog.engine import env_connection_url

    return run_gate_task(run_id=run.run_id, log=run.log, lookup=env_connection_url, **kwargs)


def reduction_call(name: str) -> Any:
    """A reduction task (dagspec_runtime.reduction.local_step), imported when first called."""

    def call(run: RunContext, **kwargs: Any) -> Any:
        from dagspec_runtime.reduction import local_step

        return getattr(local_step, name)(run, **kwargs)

    call.__name__ = f"reduction_{name}"
    return call


STEPS = {
    "entity.prepare_workspace": entity_prepare,
    "entity.module": entity_module,
    "entity.gate": entity_gate,
    "entity.promote": entity_promote,
    "entity.result": entity_result,
    "etl.gate": etl_gate,
    "reduction.wait_for_new_data": reduction_call("wait_for_new_data"),
    "reduction.register_software": reduction_call("register"),
    "reduction.discover": reduction_call("discover"),
    "reduction.step": reduction_call("step"),
}
