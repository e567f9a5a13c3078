"""Notifications through Airflow's SmtpNotifier to a real SMTP server (aiosmtpd on 127.0.0.1).

The DAGs are compiled from specs with a `notify:` block and run by real Airflow (dag.test runs
the DAG's failure and success callbacks in-process, as the dag processor does for a deployed
DAG). A failing run sends one mail naming the DAG, the failed task and a link to the run; a
successful run sends nothing unless the spec asks for it.
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler import api

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.airflow

PROJECT = """\
apiVersion: dagspec/v1
kind: Project
metadata: {name: notify}
spec:
  output_dir: dags
  entities: [waste-tracking, organization-site]
  defaults:
    notify:
      channels:
        ops-mail: {type: email, conn_id: dagspec_smtp, to: [ops@example.org],
                   from_email: dagspec@example.org}
      on_failure: [ops-mail]
"""


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_DAGSPEC_SMTP",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "extra": {"disable_tls": True, "disable_ssl": True},
            }
        ),
    )
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:8080")
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(
        ROOT / "examples", root / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "specs").mkdir()
    (root / "dagspec.yaml").write_text(PROJECT)
    for name in ("entity-pipeline", "waste-tracking"):
        shutil.copyfile(ROOT / "specs" / f"{name}.yaml", root / "specs" / f"{name}.yaml")
    site = (ROOT / "specs" / "organization-site.yaml").read_text()
    (root / "specs" / "organization-site.yaml").write_text(
        site.rstrip("\n") + "\n  notify: {on_success: [ops-mail]}\n"
    )
    result = api.compile_project(root)
    assert result.ok, result.findings
    monkeypatch.setenv("RDT_WORKSPACE_DIR", str(tmp_path / "workspaces"))
    monkeypatch.setenv(
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
        json.dumps(
            [
                {
                    "name": "dags-folder",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(root / "dags")},
                }
            ]
        ),
    )
    monkeypatch.delenv("DAGSPEC_EXAMPLE_FAIL", raising=False)
    return root


def run(project: Path, dag_id: str):  # Airflow's DagRun
    from dagspec_runtime.local_run import load_dag
    from dagspec_runtime.local_run import run as run_dag

    return run_dag(load_dag(project / "dags" / f"{dag_id}.py"), {})


def text(message: email.message.EmailMessage) -> str:
    return message.get_body(("html", "plain")).get_content()


def test_failing_run_sends_one_mail_with_dag_task_and_link(project, inbox, monkeypatch) -> None:
    monkeypatch.setenv("DAGSPEC_EXAMPLE_FAIL", "governance")
    dagrun = run(project, "waste-tracking")
    assert str(dagrun.state) == "failed"
    assert len(inbox.messages) == 1, [m["Subject"] for m in inbox.messages]
    mail = inbox.messages[0]
    assert mail["To"] == "ops@example.org" and mail["From"] == "dagspec@example.org"
    assert "waste-tracking failed" in mail["Subject"] and dagrun.run_id in mail["Subject"]
    body = text(mail)
    assert "govern.governance" in body
    assert "Reason</td><td>govern.governance: " in body, body  # the cause, not "task_failure"
    quoted = dagrun.run_id.replace(":", "%3A").replace("+", "%2B")
    assert f"http://airflow.example:8080/dags/waste-tracking/runs/{quoted}" in body


def test_successful_run_sends_nothing_unless_asked(project, inbox) -> None:
    dagrun = run(project, "waste-tracking")
    assert str(dagrun.state) == "success"
    assert inbox.messages == []
    asked = run(project, "organization-site")
    assert str(asked.state) == "success"
    assert len(inbox.messages) == 1
    assert "organization-site succeeded" in inbox.messages[0]["Subject"]


def test_deadline_and_retry_compile_to_airflow_deadline_alert_and_retry_callback(
    tmp_path: Path,
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "specs").mkdir()
    (tmp_path / "dagspec.yaml").write_text(
        PROJECT.replace("  output_dir: dags\n", "").replace(
            "entities: [waste-tracking, organization-site]", "entities: [ent]"
        )
    )
    (tmp_path / "specs" / "ent.yaml").write_text(
        "apiVersion: dagspec/v1\nkind: Entity\nmetadata: {name: ent}\nspec:\n"
        "  notify:\n    channels: {team-slack: {type: slack, conn_id: slack_team}}\n"
        "    on_retry: [ops-mail]\n    on_deadline: [team-slack]\n    deadline_minutes: 30\n"
        "  phases:\n    - name: one\n      modules: [{name: m, command: [python, m.py]}]\n"
    )
    result = api.compile_project(tmp_path)
    assert result.ok, result.findings
    bag = DagBag(dag_folder=str(tmp_path / "generated_dags"))
    assert bag.import_errors == {}
    dag = bag.dags["ent"]
    [alert] = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert alert.interval.total_seconds() == 30 * 60
    assert alert.callback.path == "dagspec_runtime.notify.deadline_missed"
    assert alert.callback.kwargs["channels"] == [{"type": "slack", "conn_id": "slack_team"}]
    retry = dag.get_task("one.m").on_retry_callback
    retry = retry[0] if isinstance(retry, list) else retry
    assert retry.event == "retry" and retry.channels[0]["conn_id"] == "dagspec_smtp"
    assert not dag.on_success_callback  # nothing asked: no success message


def test_a_channel_name_that_is_not_defined_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "dagspec.yaml").write_text(
        PROJECT.replace("entities: [waste-tracking, organization-site]", "entities: [ent]")
    )
    (tmp_path / "specs" / "ent.yaml").write_text(
        "apiVersion: dagspec/v1\nkind: Entity\nmetadata: {name: ent}\nspec:\n"
        "  notify: {on_failure: [ops-mal]}\n"
        "  phases:\n    - name: one\n      modules: [{name: m, command: [python, m.py]}]\n"
    )
    [finding] = [f for f in api.lint(tmp_path) if f.code == "DS202"]
    assert finding.path == "spec.notify.on_failure[0]" and "ops-mail" in finding.suggestion


def test_deadline_mail_names_the_run_from_airflows_own_callback_context(
    project, inbox, monkeypatch
) -> None:
    """Airflow 3.3 hands a deadline callback `{"dag_run": DAGRunResponse JSON, "deadline": ..}`
    (airflow.models.deadline.Deadline.handle_miss), where the run id is `dag_run_id`."""
    import asyncio

    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from dagspec_runtime.notify import deadline_missed

    monkeypatch.setenv("DAGSPEC_EXAMPLE_FAIL", "model-pull")  # a short run is enough
    dagrun = run(project, "waste-tracking")
    with create_session() as session:
        row = session.get(DagRun, dagrun.id)
        context = {
            "dag_run": DAGRunResponse.model_validate(row).model_dump(mode="json"),
            "deadline": {"id": "d-1", "deadline_time": "2026-01-01T00:00:00Z"},
        }
    inbox.messages.clear()
    channel = {
        "type": "email",
        "conn_id": "dagspec_smtp",
        "to": ["ops@example.org"],
        "from_email": "dagspec@example.org",
    }
    asyncio.run(deadline_missed([channel], context=context))
    [mail] = inbox.messages
    assert "waste-tracking missed its deadline" in mail["Subject"]
    assert dagrun.run_id in mail["Subject"]
    quoted = dagrun.run_id.replace(":", "%3A").replace("+", "%2B")
    assert f"http://airflow.example:8080/dags/waste-tracking/runs/{quoted}" in text(mail)
