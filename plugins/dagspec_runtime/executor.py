"""The fast local runner: run a DAG's run plan in dependency order, without Airflow.

A run plan is plain data the compiler makes from its analysis of a spec (``Plan.from_data``):
every task with the name of its runtime step (``dagspec_runtime.calls``), the step's keyword
arguments, its upstream tasks, trigger rule, retries and pool. The runner starts every task
whose upstream tasks are done, in parallel threads up to its pool's slots, and decides states
the way Airflow does: ``all_success`` tasks become ``upstream_failed`` after a failed upstream
task and ``skipped`` after a skipped one; ``all_done`` tasks run whatever happened upstream.
A failed try is retried after ``retry_delay_seconds`` (doubled each try with
``retry_exponential_backoff``) unless the step said retrying cannot help.

Interrupts (SIGINT, SIGTERM, SIGHUP) cancel the run: module processes are killed, what the
steps registered for cancelling is cancelled, tasks not yet started are left ``not_run`` and
``Interrupted`` carries the partial outcome to the caller.
"""

from __future__ import annotations

import logging
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dagspec_runtime.errors import StepFailed, StepSkipped

SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED = "success", "failed", "skipped", "upstream_failed"
NOT_RUN, UP_FOR_RETRY, RUNNING = "none", "up_for_retry", "running"
TERMINAL = frozenset({SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED})
ALL_SUCCESS, ALL_DONE = "all_success", "all_done"
DEFAULT_POOL = "default_pool"
DEFAULT_POOL_SLOTS = 128  # Airflow's default_pool
DEFAULT_RETRY_DELAY = 300.0  # Airflow's default retry_delay
EXIT_BY_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


@dataclass
class Task:
    """One task of a run plan."""

    task_id: str
    call: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    upstream: list[str] = field(default_factory=list)
    trigger_rule: str = ALL_SUCCESS
    retries: int = 0
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY
    retry_exponential_backoff: bool = False
    pool: str | None = None
    inline: bool = False  # run in the main thread (so an interrupt reaches the step itself)

    @property
    def max_attempts(self) -> int:
        return 1 + max(0, int(self.retries))

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before try ``attempt`` (2, 3, ...)."""
        delay = float(self.retry_delay_seconds)
        if self.retry_exponential_backoff:
            delay *= 2 ** max(0, attempt - 2)
        return delay


@dataclass
class Plan:
    """What to run: the DAG's tasks (in definition order), params and pools."""

    dag_id: str
    kind: str
    tasks: list[Task]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> default, schema
    pools: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            dag_id=data["dag_id"],
            kind=data["kind"],
            tasks=[Task(**task) for task in data["tasks"]],
            params={k: dict(v) for k, v in (data.get("params") or {}).items()},
            pools={k: int(v) for k, v in (data.get("pools") or {}).items()},
        )


@dataclass
class Outcome:
    """What happened to one task."""

    task_id: str
    state: str = NOT_RUN
    attempts: int = 0
    max_attempts: int = 1
    error: str | None = None
    duration_s: float = 0.0
    value: Any = None


class Interrupted(BaseException):
    """A signal stopped the run (a BaseException, like KeyboardInterrupt, so a step's
    ``except Exception`` cannot swallow it and its ``finally`` still releases what it holds)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = EXIT_BY_SIGNAL.get(signal.Signals(signum), 128 + signum)
        self.outcomes: dict[str, Outcome] = {}
        self.cancelled: list[str] = []


class RunContext:
    """What a step sees of its run: id, params, upstream results, a log, and cancellation."""

    def __init__(self, run_id: str, params: Mapping[str, Any], log: logging.Logger) -> None:
        self.run_id = run_id
        self.params = dict(params)
        self.log = log
        self.values: dict[str, Any] = {}
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[str]] = set()
        self._cancellers: list[Callable[[], list[str]]] = []

    def workspace(self) -> str | None:
        """Where ``prepare_workspace`` made this run's entity workspace (a path, or an object
        URL with declared storage); None if it did not. The steps open it themselves."""
        value = self.values.get("prepare_workspace")
        return str(value) if value else None

    def track(self, proc: subprocess.Popen[str]) -> None:
        """Remember a child process so a cancel kills it (killed at once if already cancelled)."""
        with self._lock:
            self._procs.add(proc)
        if self.cancelled.is_set():
            self._kill(proc)

    def on_cancel(self, canceller: Callable[[], list[str]]) -> None:
        """Register a callable that cancels what a step started; it returns what it cancelled."""
        with self._lock:
            self._cancellers.append(canceller)

    def cancel(self) -> list[str]:
        """Kill every tracked process and run every canceller; what was cancelled."""
        self.cancelled.set()
        with self._lock:
            procs, cancellers = list(self._procs), list(self._cancellers)
        done = []
        for proc in procs:
            if proc.poll() is None:
                self._kill(proc)
                done.append(f"process {proc.pid}")
        for canceller in cancellers:
            try:
                done += canceller()
            except Exception as exc:  # noqa: BLE001 - report and go on cancelling
                self.log.error("cancelling failed: %s", exc)
        return done

    @staticmethod
    def _kill(proc: subprocess.Popen[str]) -> None:
        from dagspec_runtime.entity.module import kill_group

        kill_group(proc)


Step = Callable[..., Any]


def run_plan(
    plan: Plan,
    steps: Mapping[str, Step],
    ctx: RunContext,
    *,
    handle_signals: bool = True,
) -> dict[str, Outcome]:
    """Run every task of ``plan``; the outcome of each. Raises ``Interrupted`` on a signal."""
    tasks = {task.task_id: task for task in plan.tasks}
    outcomes = {t.task_id: Outcome(t.task_id, max_attempts=t.max_attempts) for t in plan.tasks}
    retry_at: dict[str, float] = {}
    running: dict[str, threading.Thread] = {}
    in_use: dict[str, int] = {}
    finished: queue.Queue[tuple[str, str, Any, str | None, bool, float]] = queue.Queue()

    def slots(pool: str) -> int:
        return plan.pools.get(pool, DEFAULT_POOL_SLOTS)

    def attempt(task: Task) -> tuple[str, Any, str | None, bool]:
        step = steps[task.call]
        try:
            return SUCCESS, step(ctx, **task.kwargs), None, True
        except StepSkipped as exc:
            return SKIPPED, None, str(exc), False
        except StepFailed as exc:
            return FAILED, exc.value, str(exc) or type(exc).__name__, exc.retry
        except Exception as exc:  # noqa: BLE001 - a crashed step is a failed task, as in Airflow
            ctx.log.exception("task %s crashed", task.task_id)
            return FAILED, None, f"{type(exc).__name__}: {exc}", True

    def work(task: Task) -> None:
        started = time.monotonic()
        state, value, error, retry = attempt(task)
        finished.put((task.task_id, state, value, error, retry, time.monotonic() - started))

    def settle(task_id: str, state: str, value: Any, error: str | None, retry: bool,
               took: float) -> None:
        task, outcome = tasks[task_id], outcomes[task_id]
        pool = task.pool or DEFAULT_POOL
        in_use[pool] = in_use.get(pool, 1) - 1
        running.pop(task_id, None)
        outcome.duration_s += took
        outcome.error = error if state == FAILED else None
        if state == SUCCESS:
            ctx.values[task_id] = value
        if state == FAILED and retry and outcome.attempts < outcome.max_attempts:
            delay = task.delay_before(outcome.attempts + 1)
            ctx.log.warning("task %s failed (try %d of %d): %s; retrying in %g s", task_id,
                            outcome.attempts, outcome.max_attempts, error, delay)
            outcome.state = UP_FOR_RETRY
            retry_at[task_id] = time.monotonic() + delay
            return
        outcome.state, outcome.value = state, value
        if state == FAILED:
            ctx.log.error("task %s failed: %s", task_id, error)

    def ready() -> list[Task]:
        chosen = []
        now = time.monotonic()
        for task in plan.tasks:
            outcome = outcomes[task.task_id]
            if outcome.state not in (NOT_RUN, UP_FOR_RETRY) or task.task_id in running:
                continue
            if retry_at.get(task.task_id, 0.0) > now:
                continue
            states = [outcomes[u].state for u in task.upstream]
            if any(s not in TERMINAL for s in states):
                continue
            if task.trigger_rule == ALL_SUCCESS:
                if any(s in (FAILED, UPSTREAM_FAILED) for s in states):
                    outcome.state = UPSTREAM_FAILED
                    continue
                if SKIPPED in states:
                    outcome.state = SKIPPED
                    continue
            chosen.append(task)
        return chosen

    with signals_raise(handle_signals):
        try:
            while True:
                progressed = True
                while progressed:  # states decided without running anything may free others
                    progressed = False
                    for task in ready():
                        pool = task.pool or DEFAULT_POOL
                        if in_use.get(pool, 0) >= slots(pool):
                            continue
                        in_use[pool] = in_use.get(pool, 0) + 1
                        outcome = outcomes[task.task_id]
                        outcome.attempts += 1
                        outcome.state = RUNNING
                        if task.inline:
                            started = time.monotonic()
                            state, value, error, retry = attempt(task)
                            settle(task.task_id, state, value, error, retry,
                                   time.monotonic() - started)
                            progressed = True
                            continue
                        thread = threading.Thread(target=work, args=(task,), daemon=True,
                                                  name=f"task-{task.task_id}")
                        running[task.task_id] = thread
                        thread.start()
                if not running and not any(o.state == UP_FOR_RETRY for o in outcomes.values()):
                    break  # every task is done, or can never start
                timeout = _next_wake(retry_at, outcomes)
                try:
                    settle(*finished.get(timeout=timeout))
                except queue.Empty:
                    continue
        except (Interrupted, KeyboardInterrupt) as exc:
            stop = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)
            ctx.log.error("interrupted (%s): cancelling what this run started",
                          signal.Signals(stop.signum).name)
            stop.cancelled = ctx.cancel()
            with signals_ignored():
                for thread in list(running.values()):
                    thread.join(timeout=30)
                while not finished.empty():
                    settle(*finished.get_nowait())
            for outcome in outcomes.values():
                if outcome.state in (RUNNING, UP_FOR_RETRY):
                    outcome.state = FAILED
                    outcome.error = outcome.error or f"interrupted by {stop}"
            stop.outcomes = outcomes
            raise stop from None
    return outcomes


def _next_wake(retry_at: Mapping[str, float], outcomes: Mapping[str, Outcome]) -> float:
    """How long to wait for a finished task before a retry becomes due (capped, so signals and
    retries are noticed promptly without a busy loop)."""
    due = [at for t, at in retry_at.items() if outcomes[t].state == UP_FOR_RETRY]
    if not due:
        return 0.5
    return max(0.01, min(0.5, min(due) - time.monotonic()))


def _raise(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


@contextmanager
def signals_raise(enabled: bool) -> Iterator[None]:
    """SIGINT/SIGTERM/SIGHUP raise ``Interrupted`` in the main thread while the run lasts."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in EXIT_BY_SIGNAL}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """While cancelling, a second signal must not cut the clean-up short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in EXIT_BY_SIGNAL}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
