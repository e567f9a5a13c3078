"""Run notifications through Airflow's notifiers: mail (SmtpNotifier) and Slack (webhook).

A generated DAG names its channels (connection ids and addresses only; secrets stay in the
connections) and which events go where: a failed run, a succeeded run, a task retry, a missed
deadline. `Notify.on(event, names)` returns the callback Airflow calls; the providers are
imported only then, so parsing a DAG file costs no provider import.

Every message says what a person needs to act: the DAG id, the run, the failed tasks (asked of
Airflow when it can answer, else the task the callback was given), the reason and a link to the
run in the UI.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

EVENTS = {
    "failure": "failed",
    "success": "succeeded",
    "retry": "is retrying a task",
    "deadline": "missed its deadline",
}

SUBJECT = "[dagspec] {{ dagspec.dag_id }} {{ dagspec.event }}: run {{ dagspec.run_id }}"
BODY = """<p>DAG <b>{{ dagspec.dag_id }}</b> {{ dagspec.event }}.</p>
<table>
<tr><td>Run</td><td>{{ dagspec.run_id }}</td></tr>
<tr><td>Failed tasks</td><td>{{ dagspec.failed_tasks | join(', ') or 'none' }}</td></tr>
<tr><td>Reason</td><td>{{ dagspec.reason }}</td></tr>
<tr><td>Link</td><td><a href="{{ dagspec.run_url }}">{{ dagspec.run_url }}</a></td></tr>
</table>
"""
SLACK = (
    "*{{ dagspec.dag_id }}* {{ dagspec.event }}: run `{{ dagspec.run_id }}`"
    "{% if dagspec.failed_tasks %}, failed: {{ dagspec.failed_tasks | join(', ') }}{% endif %}"
    " — {{ dagspec.reason }} <{{ dagspec.run_url }}|open the run>"
)


def base_url() -> str:
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "http://localhost:8080").rstrip("/")


def failed_tasks(context: Mapping[str, Any], dag_id: str, run_id: str) -> list[str]:
    """The run's failed task ids: asked of Airflow (the task-state API callbacks may use), else
    the task instance the callback came with."""
    ti = context.get("ti")
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        states = RuntimeTaskInstance.get_task_states(dag_id=dag_id, run_ids=[run_id])
        failed = sorted(t for t, s in states.get(run_id, {}).items() if s == "failed")
        if failed:
            return failed
    except Exception:  # no supervisor to ask: dag.test runs callbacks in-process
        try:
            return _failed_from_db(dag_id, run_id)
        except Exception:  # no database either: say what the context knows
            pass
    if ti is not None and str(getattr(ti, "state", "")) in ("failed", "TaskInstanceState.FAILED"):
        return [ti.task_id]
    return [ti.task_id] if ti is not None and context.get("reason") == "task_failure" else []


def _failed_from_db(dag_id: str, run_id: str) -> list[str]:
    """In-process callbacks (dag.test) may read the metadata database directly."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(TaskInstance.task_id).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.state == "failed",
            )
        )
        return sorted(rows)


def failure_cause(dag_id: str, run_id: str, failed: Sequence[str]) -> str | None:
    """What made the failed tasks fail, from what they left in XCom: a module's result envelope
    (``result``: its errors), a Slurm step's job outcome (``slurm_job``: job id, state, exit
    code). None when Airflow cannot be asked (no metadata database in this process)."""
    if not failed:
        return None
    try:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        causes = []
        with create_session() as session:
            rows = (
                session.query(XComModel)
                .filter(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == run_id,
                    XComModel.task_id.in_(list(failed)),
                    XComModel.key.in_(["result", "slurm_job"]),
                )
                .all()
            )
            for row in sorted(rows, key=lambda r: (r.task_id, r.map_index)):
                value = XComModel.deserialize_value(row)
                if not isinstance(value, Mapping):
                    continue
                if row.key == "slurm_job":
                    causes.append(
                        f"{row.task_id}: Slurm job {value.get('job_id')} {value.get('state')}, "
                        f"exit code {value.get('exit_code')}"
                    )
                elif value.get("errors"):
                    errors = [e if isinstance(e, str) else str(e) for e in value["errors"]]
                    causes.append(f"{row.task_id}: {'; '.join(errors)}")
        return "; ".join(causes) or None
    except Exception:  # no database here (a callback run elsewhere): the context's reason
        return None


def run_facts(context: Mapping[str, Any], event: str) -> dict[str, Any]:
    """What every message shows, from the callback's context."""
    dag = context.get("dag")
    ti = context.get("ti")
    dag_run = context.get("dag_run")
    if isinstance(dag_run, Mapping):  # a deadline callback: Airflow's DAGRunResponse as JSON
        run_dag_id = dag_run.get("dag_id")
        run_run_id = dag_run.get("run_id") or dag_run.get("dag_run_id")
    else:
        run_dag_id, run_run_id = getattr(dag_run, "dag_id", None), getattr(dag_run, "run_id", None)
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None) or run_dag_id or ""
    run_id = str(context.get("run_id") or getattr(ti, "run_id", None) or run_run_id or "")
    failed = failed_tasks(context, dag_id, run_id) if event in ("failure", "deadline") else []
    if event == "retry" and ti is not None:
        failed = [ti.task_id]
    quoted = urllib.parse.quote(run_id, safe="")
    reason = context.get("exception") or failure_cause(dag_id, run_id, failed)
    if not reason and context.get("reason") == "task_failure" and failed:
        reason = f"task(s) {', '.join(failed)} failed"
    return {
        "event": EVENTS[event],
        "dag_id": dag_id,
        "run_id": run_id,
        "failed_tasks": failed,
        "reason": str(reason or context.get("reason") or EVENTS[event]),
        "run_url": f"{base_url()}/dags/{urllib.parse.quote(dag_id, safe='')}/runs/{quoted}",
    }


def build(channel: Mapping[str, Any]) -> Any:
    """The Airflow notifier for one channel (imports its provider)."""
    if channel["type"] == "email":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        return SmtpNotifier(
            to=list(channel["to"]),
            from_email=channel.get("from_email"),
            subject=SUBJECT,
            html_content=BODY,
            smtp_conn_id=channel["conn_id"],
        )
    if channel["type"] == "slack":
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        return SlackWebhookNotifier(slack_webhook_conn_id=channel["conn_id"], text=SLACK)
    raise ValueError(f"unknown channel type {channel['type']!r}")


class Callback:
    """One event's callback: builds the channels' notifiers when Airflow calls it."""

    def __init__(self, channels: Sequence[Mapping[str, Any]], event: str) -> None:
        self.channels = [dict(c) for c in channels]
        self.event = event
        self.__name__ = f"dagspec_notify_{event}"

    def __call__(self, context: dict[str, Any]) -> None:
        context["dagspec"] = run_facts(context, self.event)
        if not hasattr(context.get("dag"), "get_template_env"):
            # dag.test hands callbacks a serialized DAG; the notifier then renders with
            # Airflow's default template environment.
            context = {**context, "dag": None}
        errors = []
        for channel in self.channels:
            try:
                build(channel)(context)
            except Exception as exc:  # one broken channel must not silence others
                errors.append(f"{channel['type']} via {channel['conn_id']}: {exc}")
        if errors:
            raise RuntimeError("notification failed: " + "; ".join(errors))


class Notify:
    """The channels of one DAG, by name."""

    def __init__(self, channels: Mapping[str, Mapping[str, Any]]) -> None:
        self.channels = {name: dict(c) for name, c in channels.items()}

    def on(self, event: str, names: Sequence[str]) -> Callback:
        return Callback([self.channels[n] for n in names], event)

    def deadline(self, minutes: int, names: Sequence[str]) -> Any:
        """An Airflow deadline alert (3.1+): the run should finish `minutes` after it was
        queued; when it has not, the triggerer calls `deadline_missed` with these channels."""
        from datetime import timedelta

        try:
            from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference
        except ImportError:  # Airflow 3.1 keeps them in the definitions module only
            from airflow.sdk.definitions.deadline import (
                AsyncCallback,
                DeadlineAlert,
                DeadlineReference,
            )

        return DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(minutes=minutes),
            callback=AsyncCallback(
                "dagspec_runtime.notify.deadline_missed",
                kwargs={"channels": [self.channels[n] for n in names]},
            ),
        )


async def deadline_missed(
    channels: Sequence[Mapping[str, Any]], context: dict[str, Any] | None = None, **_: Any
) -> None:
    """Deadline-alert callback (run by the triggerer): send the missed-deadline messages."""
    context = dict(context or {})
    context["dagspec"] = run_facts(context, "deadline")
    for channel in channels:
        notifier = build(channel)
        notifier.context = context
        await notifier
