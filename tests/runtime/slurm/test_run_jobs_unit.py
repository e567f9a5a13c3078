"""Pure parts of run ownership and job outcomes: comments, run matching, CPU time, log quieting.

No cluster needed: these are the parsing and matching rules the Slurm tests rely on.
"""

from __future__ import annotations

import logging

import pytest
from dagspec_runtime.local_run import _OncePerChange
from dagspec_runtime.slurm.outcome import JobOutcome, cpu_time_s
from dagspec_runtime.slurm.run_jobs import is_live, jobs_of_run, new_run_tag, run_prefix
from dagspec_runtime.slurm.slurm_cli import Listed
from dagspec_runtime.slurm.try_identity import TryKey, parse_comment


def test_a_comment_names_its_try_and_run_tag() -> None:
    key = TryKey("chai", "manual__2026-12-01T09:41:21+00:00", "per_scan.calibrate", 3, 2)
    tag = new_run_tag()
    assert parse_comment(key.comment(tag)) == (key, tag)
    assert parse_comment(key.comment()) == (key, None)
    assert key.comment().startswith(key.task_prefix()) and key.comment().endswith("try2")
    assert parse_comment("somebody else's job") is None
    assert parse_comment("dagspec:broken") is None


def test_jobs_of_a_run_by_tag_or_prefix() -> None:
    key = TryKey("d", "r1", "t", -1, 1)
    rows = [
        Listed("1", "RUNNING", key.comment("abc")),
        Listed("2", "COMPLETED", TryKey("d", "r1", "u", 0, 1).comment()),
        Listed("3", "PENDING", TryKey("d", "r2", "t", -1, 1).comment("xyz")),
        Listed("4", "RUNNING", "not ours@abc"),
    ]
    assert [r.job_id for r in jobs_of_run(run_tag="abc", rows=rows)] == ["1"]
    assert [r.job_id for r in jobs_of_run(prefix=run_prefix("d", "r1"), rows=rows)] == ["1", "2"]
    with pytest.raises(ValueError):
        jobs_of_run(rows=rows)


def test_live_states_and_cpu_time() -> None:
    assert is_live("PENDING") and is_live("RUNNING") and is_live("COMPLETING")
    assert not is_live("COMPLETED") and not is_live("CANCELLED") and not is_live("")
    assert cpu_time_s({"RunTime": "00:01:30", "NumCPUs": "4"}) == 360
    assert cpu_time_s({"RunTime": "00:00:02"}) is None


def test_outcome_describes_itself() -> None:
    outcome = JobOutcome("12", "FAILED", exit_code=3, signal=0, runtime_s=1.0)
    assert outcome.describe() == "job 12 FAILED exit 3 after 1 s"
    assert not outcome.succeeded and outcome.as_dict()["output_tail"] == []


def test_waiting_is_logged_once_per_change() -> None:
    quiet = _OncePerChange()

    def record(msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord(
            "airflow.sdk.definitions.dag", logging.WARNING, "", 0, msg, args, None
        )

    waiting = "No tasks to run. unrunnable tasks: %s"
    shown = [quiet.filter(record(waiting, "{a [up_for_retry]}")) for _ in range(5)]
    assert shown == [True, False, False, False, False]
    assert quiet.filter(record(waiting, "{a [scheduled]}"))
    assert quiet.filter(record("something else"))
