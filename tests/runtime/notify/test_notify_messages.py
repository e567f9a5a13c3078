"""Every message carries the run id, the failed task and the cause (Slack included)."""

from __future__ import annotations

import jinja2
from dagspec_runtime import notify


def test_the_slack_message_names_run_failed_task_and_cause(monkeypatch) -> None:
    monkeypatch.setattr(notify, "failed_tasks", lambda context, dag_id, run_id: ["calibrate"])
    monkeypatch.setattr(
        notify,
        "failure_cause",
        lambda dag_id, run_id, failed: "calibrate: Slurm job 41 FAILED, exit code 3",
    )
    monkeypatch.setattr(notify, "base_url", lambda: "http://airflow.example:8080")
    context = {"dag_run": {"dag_id": "chai", "dag_run_id": "manual__1"}, "reason": "task_failure"}
    facts = notify.run_facts(context, "failure")
    text = jinja2.Template(notify.SLACK).render(dagspec=facts)
    assert "`manual__1`" in text and "failed: calibrate" in text
    assert "calibrate: Slurm job 41 FAILED, exit code 3" in text
    assert "http://airflow.example:8080/dags/chai/runs/manual__1" in text
