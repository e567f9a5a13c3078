"""The entity pipeline's Airflow operators: thin shells over the pure steps.

Each ``execute`` reads the run's workspace location (a path or, with declared object storage,
a URL) and params from the Airflow context, calls the step
function of its module (workspace.prepare, module.run_module, gate.gate_phase,
promote.promote_run, result.finish_run) and turns ``StepFailed``/``StepSkipped`` into Airflow's
exceptions. The fast local runner calls the same steps, so both decide alike.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator

from dagspec_runtime.airflow_compat import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    TriggerRule,
)
from dagspec_runtime.entity.gate import gate_phase
from dagspec_runtime.entity.module import kill_group, run_module
from dagspec_runtime.entity.promote import DEFAULT_REPORT_PATH, promote_run
from dagspec_runtime.entity.result import DEFAULT_RESULT_PATH, finish_run
from dagspec_runtime.entity.workspace import prepare, workspace_location
from dagspec_runtime.errors import StepFailed, StepSkipped


def _params(context: Any) -> Mapping[str, Any]:
    return context.get("params") or {}


class PrepareWorkspaceOperator(BaseOperator):
    """Create the run's isolated workspace and return its path (XCom ``return_value``).

    :param entity: entity id, part of the folder name.
    :param phases: phase names; one subfolder each.
    :param base_dir: parent folder; None resolves $RDT_WORKSPACE_DIR > $TMPDIR > /tmp at run time.
    :param prefix: folder name prefix.
    :param project_root: what a relative ``base_dir`` is relative to (default: worker cwd).
    :param storage: declared run storage (``dagspec.yaml`` ``spec.storage.url``): a shared
        folder or an object URL; workspaces then go to ``<storage>/workspaces`` and
        ``base_dir`` is not used. None: a local folder on this worker.
    """

    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        entity: str,
        phases: Sequence[str],
        base_dir: str | None = None,
        prefix: str = "rdt",
        project_root: str | None = None,
        storage: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.storage = storage
        self.entity = entity
        self.phases = list(phases)
        self.base_dir = base_dir
        self.prefix = prefix
        self.project_root = project_root

    def execute(self, context: Any) -> str:
        return prepare(
            entity=self.entity,
            phases=self.phases,
            base_dir=self.base_dir,
            prefix=self.prefix,
            project_root=self.project_root,
            run_id=str(context["run_id"]),
            params=_params(context),
            log=self.log,
            storage=self.storage,
        )


class ModuleOperator(BaseOperator):
    """Run one entity module in manifest mode; fail the task when the module failed.

    :param entity: entity id (written to the manifest, checked in the envelope).
    :param phase: phase folder the module writes into.
    :param module: module name (default: the task id); names the manifest and result files.
    :param command: argv before ``--manifest FILE --json``; ``python`` means the worker's Python.
    :param required: informational here; the phase gate decides with it.
    :param inputs: named input paths relative to the workspace.
    :param project_root: working directory of the module.
    :param env: extra environment variables for the module (it also gets ``DAGSPEC_MODULE`` and
        ``DAGSPEC_PHASE``, so one script can serve under several names).
    :param timeout_seconds: the module is killed after this long.
    """

    ui_color = "#fff4e0"

    def __init__(
        self,
        *,
        entity: str,
        phase: str,
        command: Sequence[str],
        project_root: str,
        module: str | None = None,
        required: bool = True,
        inputs: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout_seconds: float = 1800,
        **kwargs: Any,
    ) -> None:
        module = module or kwargs["task_id"]  # the module's name is its task id by default
        super().__init__(**kwargs)
        if not command:
            raise ValueError(f"module {module!r}: command must not be empty")
        self.entity = entity
        self.phase = phase
        self.module = module
        self.command = list(command)
        self.required = required
        self.inputs = dict(inputs or {})
        self.project_root = project_root
        self.env = dict(env or {})
        self.timeout_seconds = timeout_seconds
        self._proc: subprocess.Popen[str] | None = None

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            envelope = run_module(
                workspace=workspace_location(context),
                run_id=str(context["run_id"]),
                params=_params(context),
                entity=self.entity,
                phase=self.phase,
                module=self.module,
                command=self.command,
                project_root=self.project_root,
                inputs=self.inputs,
                env=self.env,
                timeout_seconds=self.timeout_seconds,
                log=self.log,
                on_start=self._remember,
            )
        except StepFailed as exc:
            if exc.value is not None:
                context["ti"].xcom_push(key="result", value=exc.value)
            raise AirflowException(str(exc)) from exc
        finally:
            self._proc = None
        context["ti"].xcom_push(key="result", value=envelope)
        return envelope

    def _remember(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc

    def on_kill(self) -> None:
        """Kill the module's process group when Airflow kills the task."""
        if self._proc is not None and self._proc.poll() is None:
            kill_group(self._proc)


class PhaseGateOperator(BaseOperator):
    """Decide a phase's status after all its modules are done; stop the run on phase error.

    Runs whatever its modules did (trigger rule ``all_done``); see ``gate.gate_phase``.

    :param phase: phase name (its workspace subfolder).
    :param modules: module name -> required flag, for every module of the phase.
    """

    ui_color = "#eeeeee"

    def __init__(self, *, phase: str, modules: Mapping[str, bool], **kwargs: Any) -> None:
        kwargs["trigger_rule"] = TriggerRule.ALL_DONE
        super().__init__(**kwargs)
        self.phase = phase
        self.modules = dict(modules)

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            return gate_phase(
                workspace=workspace_location(context),
                phase=self.phase,
                modules=self.modules,
                log=self.log,
            )
        except StepSkipped as exc:
            raise AirflowSkipException(str(exc)) from exc
        except StepFailed as exc:
            raise AirflowException(str(exc)) from exc


class PromoteOperator(BaseOperator):
    """Promote a clean run's artifacts into the project; skip (with a report) otherwise.

    Runs whatever happened upstream (trigger rule ``all_done``) and decides from the phase
    results, so a stopped run still leaves a report saying why nothing was promoted.

    :param entity: entity id, fills ``{entity}`` in the mapping.
    :param project_root: root that every destination must stay inside.
    :param mapping: workspace-relative source -> project-relative destination.
    :param report_path: project-relative path of the report written beside the artifacts
        (None: only the workspace copy).
    """

    ui_color = "#e6f4ea"

    def __init__(
        self,
        *,
        entity: str,
        project_root: str,
        mapping: Mapping[str, str],
        report_path: str | None = DEFAULT_REPORT_PATH,
        **kwargs: Any,
    ) -> None:
        kwargs["trigger_rule"] = TriggerRule.ALL_DONE
        super().__init__(**kwargs)
        self.entity = entity
        self.project_root = project_root
        self.mapping = dict(mapping)
        self.report_path = report_path

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            return promote_run(
                workspace=workspace_location(context),
                params=_params(context),
                entity=self.entity,
                project_root=self.project_root,
                mapping=self.mapping,
                report_path=self.report_path,
                log=self.log,
            )
        except StepSkipped as exc:
            raise AirflowSkipException(str(exc)) from exc
        except StepFailed as exc:
            raise AirflowException(str(exc)) from exc


class PipelineResultOperator(BaseOperator):
    """Write pipeline-result.json, clean the workspace, and fail the run if it was not clean.

    The result is written into the workspace and copied to ``result_path`` under the project
    root, except on a dry run: a dry run promises no side effects outside the workspace, so its
    result only goes to the workspace, the task log and XCom. The workspace is then removed
    unless the ``keep_workspace`` param is true. The task fails when the status is partial or
    error; the result dict is pushed as XCom (``return_value``) either way.

    :param entity: entity id.
    :param phases: phase -> module names, in run order.
    :param project_root: root that ``result_path`` must stay inside.
    :param result_path: project-relative destination, ``{entity}`` is filled in.
    """

    ui_color = "#e8eaf6"

    def __init__(
        self,
        *,
        entity: str,
        phases: Mapping[str, Sequence[str]],
        project_root: str,
        result_path: str = DEFAULT_RESULT_PATH,
        **kwargs: Any,
    ) -> None:
        kwargs["trigger_rule"] = TriggerRule.ALL_DONE
        super().__init__(**kwargs)
        self.entity = entity
        self.phases = {phase: list(modules) for phase, modules in phases.items()}
        self.project_root = project_root
        self.result_path = result_path

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            result = finish_run(
                workspace=workspace_location(context),
                run_id=str(context["run_id"]),
                params=_params(context),
                entity=self.entity,
                phases=self.phases,
                project_root=self.project_root,
                result_path=self.result_path,
                log=self.log,
            )
        except StepFailed as exc:
            context["ti"].xcom_push(key="return_value", value=exc.value)
            if not exc.retry:  # the verdict is recorded; a retry could not change it
                raise AirflowFailException(str(exc)) from exc
            raise AirflowException(str(exc)) from exc
        context["ti"].xcom_push(key="return_value", value=result)
        return result
