"""The fast path's scheduler (local_scheduler.Scheduler): parallel up to the pool, Airflow's
trigger rules, retries with their delay and backoff. Steps here are small Python functions (the
entity and ETL steps are exercised end to end in test_run_paths.py and test_run_report.py)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from dagspec_runtime.errors import StepFailed, StepSkipped
from dagspec_runtime.local_scheduler import Outcome, Scheduler
from dagspec_runtime.run_context import RunContext
from dagspec_runtime.run_plan import Plan, Task


def plan(*tasks: dict[str, Any], pools: dict[str, int] | None = None) -> Plan:
    return Plan.from_data(
        {"dag_id": "t", "kind": "Entity", "tasks": list(tasks), "pools": pools or {}}
    )


def run_plan(plan: Plan, steps: dict[str, Any], ctx: RunContext) -> dict[str, Outcome]:
    return Scheduler(plan, steps, ctx).run()


def context() -> RunContext:
    return RunContext("run-1", {}, logging.getLogger("test-scheduler"))


class Recorder:
    """Steps that sleep, fail or skip, and record how many ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.tries: dict[str, list[float]] = {}

    def sleep(self, run: RunContext, name: str, seconds: float = 0.3) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(seconds)
        with self.lock:
            self.now -= 1
        return name

    def fail(self, run: RunContext, name: str, times: int = 99, retry: bool = True) -> str:
        self.tries.setdefault(name, []).append(time.monotonic())
        if len(self.tries[name]) <= times:
            raise StepFailed(f"{name} failed", retry=retry)
        return name

    def skip(self, run: RunContext) -> None:
        raise StepSkipped("nothing to do")

    def steps(self) -> dict[str, Any]:
        return {"sleep": self.sleep, "fail": self.fail, "skip": self.skip}


def task(task_id: str, call: str, upstream: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    kwargs = extra.pop("kwargs", {"name": task_id} if call != "skip" else {})
    return {"task_id": task_id, "call": call, "kwargs": kwargs, "upstream": list(upstream), **extra}


def test_independent_tasks_run_in_parallel_up_to_the_pool() -> None:
    rec = Recorder()
    tasks = [task(f"m{i}", "sleep", pool="p") for i in range(6)]
    started = time.monotonic()
    out = run_plan(plan(*tasks, pools={"p": 3}), rec.steps(), context())
    took = time.monotonic() - started
    assert all(o.state == "success" for o in out.values())
    assert rec.peak == 3
    assert took < 6 * 0.3  # two waves of three, not six one after another


def test_trigger_rules_follow_airflow() -> None:
    rec = Recorder()
    out = run_plan(
        plan(
            task("bad", "fail", kwargs={"name": "bad", "retry": False}),
            task("after_bad", "sleep", ("bad",)),
            task("skipper", "skip"),
            task("after_skip", "sleep", ("skipper",)),
            task("gate", "sleep", ("bad", "after_bad"), trigger_rule="all_done"),
        ),
        rec.steps(),
        context(),
    )
    states = {k: o.state for k, o in out.items()}
    assert states == {
        "bad": "failed",
        "after_bad": "upstream_failed",
        "skipper": "skipped",
        "after_skip": "skipped",
        "gate": "success",
    }
    assert out["bad"].error == "bad failed" and out["bad"].attempts == 1


def test_retries_wait_their_delay_with_exponential_backoff() -> None:
    rec = Recorder()
    out = run_plan(
        plan(
            task(
                "flaky",
                "fail",
                kwargs={"name": "flaky", "times": 1},
                retries=3,
                retry_delay_seconds=0.2,
                retry_exponential_backoff=True,
            )
        ),
        rec.steps(),
        context(),
    )
    assert out["flaky"].state == "success" and out["flaky"].attempts == 2
    tries = rec.tries["flaky"]
    assert 1.0 <= tries[1] - tries[0] < 1.5  # Airflow's least backoff is 1 s


@pytest.mark.parametrize(
    ("delay", "backoff"), [(3, 3), (3, True), (0.2, 2), (60, 2.5), (300, 0), (10, False)]
)
def test_backoff_is_airflows_own_formula_with_its_jitter(delay: float, backoff: Any) -> None:
    """Compared with Airflow 3.3's TaskInstance.next_retry_datetime itself (the jitter hashes
    dag#task#logical_date#try; the fast path hashes the run id in the logical date's place)."""
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from airflow.models.taskinstance import TaskInstance

    multiplier = (2 if backoff else 0) if isinstance(backoff, bool) else backoff
    mine = Task("step", "fail", retry_delay_seconds=delay, retry_exponential_backoff=backoff)
    end = datetime(2026, 1, 1, tzinfo=UTC)
    for failed_try in range(1, 6):
        ti = SimpleNamespace(
            retry_delay_override=None,
            task=SimpleNamespace(
                retry_delay=timedelta(seconds=delay),
                retry_exponential_backoff=multiplier,
                max_retry_delay=None,
            ),
            try_number=failed_try,
            dag_id="d",
            task_id="step",
            logical_date="run-1",
            end_date=end,
            log=logging.getLogger("t"),
        )
        airflow_wait = (TaskInstance.next_retry_datetime(ti) - end).total_seconds()
        assert mine.delay_before(failed_try + 1, "d#step#run-1") == pytest.approx(airflow_wait)


def test_retries_run_out_and_a_refusal_is_not_retried() -> None:
    rec = Recorder()
    out = run_plan(
        plan(
            task("always", "fail", retries=2, retry_delay_seconds=0.05),
            task(
                "refused",
                "fail",
                kwargs={"name": "refused", "retry": False},
                retries=2,
                retry_delay_seconds=0.05,
            ),
        ),
        rec.steps(),
        context(),
    )
    assert (out["always"].state, out["always"].attempts, out["always"].max_attempts) == (
        "failed",
        3,
        3,
    )
    assert (out["refused"].state, out["refused"].attempts) == ("failed", 1)


def mapped(rec: Recorder) -> dict[str, Any]:
    """Steps for mapped tasks: a source returning sub-groups, a step failing for one."""

    def source(run: RunContext, items: list[str]) -> list[str]:
        return items

    def each(run: RunContext, sub_group: str, bad: str = "") -> str:
        if sub_group == bad:
            raise StepFailed(f"{sub_group} failed", retry=False)
        return sub_group

    return {**rec.steps(), "source": source, "each": each}


def test_mapped_tasks_expand_per_element_and_fail_like_airflow() -> None:
    """Instances of one group follow the same index; a failed instance fails its own index
    downstream, and a task mapped over another source after the group is upstream_failed
    without being expanded (as Airflow leaves it: map index -1)."""
    rec = Recorder()
    out = run_plan(
        plan(
            task("find", "source", kwargs={"items": ["a", "b", "c"]}),
            task("g.one", "each", ("find",), kwargs={"bad": "b"}, map_over="find"),
            task("g.two", "each", ("g.one",), kwargs={}, map_over="find"),
            task("find_all", "source", kwargs={"items": ["all"]}),
            task("h.last", "each", ("find_all", "g.two"), kwargs={}, map_over="find_all"),
        ),
        mapped(rec),
        context(),
    )
    rows = [(o.task_id, o.map_index, o.state) for o in out.values()]
    assert rows == [
        ("find", None, "success"),
        ("g.one", 0, "success"),
        ("g.one", 1, "failed"),
        ("g.one", 2, "success"),
        ("g.two", 0, "success"),
        ("g.two", 1, "upstream_failed"),
        ("g.two", 2, "success"),
        ("find_all", None, "success"),
        ("h.last", None, "upstream_failed"),
    ]
    assert out["g.two[2]"].value == "c"


def test_mapped_over_nothing_is_skipped() -> None:
    out = run_plan(
        plan(
            task("find", "source", kwargs={"items": []}),
            task("g.one", "each", ("find",), kwargs={}, map_over="find"),
            task("after", "sleep", ("g.one",)),
        ),
        mapped(Recorder()),
        context(),
    )
    assert [(k, o.state) for k, o in out.items()] == [
        ("find", "success"),
        ("g.one", "skipped"),
        ("after", "skipped"),
    ]


def test_max_active_limits_the_instances_of_one_mapped_task() -> None:
    rec = Recorder()

    def slow(run: RunContext, sub_group: int) -> int:
        return rec.sleep(run, str(sub_group), 0.2) and sub_group

    out = run_plan(
        plan(
            task("find", "source", kwargs={"items": [1, 2, 3, 4]}),
            task("g.s", "slow", ("find",), kwargs={}, map_over="find", max_active=2),
        ),
        {**mapped(rec), "slow": slow},
        context(),
    )
    assert [o.state for o in out.values()] == ["success"] * 5
    assert rec.peak == 2


def test_a_full_pool_starts_the_highest_priority_first() -> None:
    """Weights add up downstream (Airflow's default weight rule): `low` with a heavy task
    after it outranks `mid`."""
    started: list[str] = []

    def note(run: RunContext, name: str) -> str:
        started.append(name)
        time.sleep(0.05)
        return name

    out = run_plan(
        plan(
            task("first", "note", pool="p"),
            task("mid", "note", ("first",), pool="p", priority_weight=5),
            task("low", "note", ("first",), pool="p", priority_weight=1),
            task("heavy", "note", ("low",), priority_weight=10),
            task("top", "note", ("first",), pool="p", priority_weight=20),
            pools={"p": 1},
        ),
        {"note": note},
        context(),
    )
    assert all(o.state == "success" for o in out.values())
    in_pool = [name for name in started if name != "heavy"]  # heavy is in another pool
    assert in_pool == ["first", "top", "low", "mid"]


def test_a_try_past_its_execution_timeout_is_cancelled_failed_and_retried() -> None:
    """The step's process is killed (as Airflow's on_kill does) and the try fails as a
    timeout; the retry runs (and times out again)."""
    import subprocess

    procs: list[subprocess.Popen[str]] = []

    def hang(run: RunContext, name: str) -> str:
        proc = subprocess.Popen(["sleep", "30"], text=True, start_new_session=True)
        procs.append(proc)
        run.track(proc)
        proc.wait()
        return name

    started = time.monotonic()
    out = run_plan(
        plan(
            task("slow", "hang", execution_timeout_seconds=0.5, retries=1, retry_delay_seconds=0.1),
            task("after", "sleep", ("slow",)),
        ),
        {**Recorder().steps(), "hang": hang},
        context(),
    )
    assert time.monotonic() - started < 5
    slow = out["slow"]
    assert (slow.state, slow.attempts) == ("failed", 2)
    assert slow.error is not None and "AirflowTaskTimeout" in slow.error
    assert out["after"].state == "upstream_failed"
    for proc in procs:
        assert proc.wait(timeout=5) != 0  # killed, not finished


def test_an_inline_try_past_its_timeout_fails_as_a_timeout() -> None:
    def spin(run: RunContext, name: str) -> str:
        time.sleep(5)
        return name

    started = time.monotonic()
    out = run_plan(
        plan(task("gate", "spin", inline=True, execution_timeout_seconds=0.3)),
        {"spin": spin},
        context(),
    )
    assert time.monotonic() - started < 3
    assert out["gate"].state == "failed" and "AirflowTaskTimeout" in (out["gate"].error or "")


def test_a_slow_cancel_of_a_timed_out_try_does_not_hold_up_other_tasks() -> None:
    """A job that ignores SIGTERM takes Slurm's KillWait to end once cancelled; meanwhile the
    other tasks still start and retry on time."""
    rec = Recorder()
    release = threading.Event()

    def hold(run: RunContext, name: str) -> None:
        run.on_cancel(lambda: [release.wait(20) and "slow" or "slow"])
        run.stop_event().wait(30)

    steps = {**rec.steps(), "hold": hold}
    started = time.monotonic()
    try:
        out = run_plan(
            plan(
                task("held", "hold", execution_timeout_seconds=0.3),
                task(
                    "flaky",
                    "fail",
                    kwargs={"name": "flaky", "times": 2},
                    retries=2,
                    retry_delay_seconds=1,
                ),
            ),
            steps,
            context(),
        )
    finally:
        release.set()
    assert out["held"].state == "failed" and "timed out" in (out["held"].error or "")
    assert out["flaky"].state == "success" and out["flaky"].attempts == 3
    tries = rec.tries["flaky"]
    assert tries[-1] - started < 10, "the retries waited for the slow cancel"
