"""The fast local runner: run a DAG's run plan in dependency order, without Airflow.

A run plan is plain data the compiler makes from its analysis of a spec (``Plan.from_data``):
every task with the name of its runtime step (``dagspec_runtime.calls``), the step's keyword
arguments, its upstream tasks, trigger rule, retries, pool, priority and timeout. The runner
starts every task whose upstream tasks are done, in parallel threads up to its pool's slots,
and decides states the way Airflow does: ``all_success`` tasks become ``upstream_failed`` after
a failed upstream task and ``skipped`` after a skipped one; ``all_done`` tasks run whatever
happened upstream. A failed try is retried after ``retry_delay_seconds`` (grown by
``retry_exponential_backoff`` with Airflow's own formula and jitter, see ``Task.delay_before``)
unless the step said retrying cannot help.

As in Airflow:

- **Mapped tasks.** A task with ``map_over`` is expanded, once that task succeeded, into one
  instance per element of the list it returned (``map_index`` 0, 1, ...; the element is passed
  as ``map_arg``); instances of one mapped group depend on the same index of each other, and
  a task outside the group waits for every instance. An empty list skips the task.
- **Priority.** When a pool has fewer free slots than ready tasks, the tasks with the highest
  priority weight start first; the weight of a task is its own ``priority_weight`` plus that of
  every task downstream of it (Airflow's default ``weight_rule`` ``downstream``).
- **Timeouts.** A try running longer than ``execution_timeout_seconds`` is cancelled (its
  processes killed, its Slurm job cancelled) and fails with ``AirflowTaskTimeout``; it is
  retried like any other failure.
- ``max_active`` limits the running instances of one mapped task (``max_active_tis_per_dagrun``).

``queue`` has no meaning here: every task runs in this process.

Interrupts (SIGINT, SIGTERM, SIGHUP) cancel the run: module processes are killed, what the
steps registered for cancelling is cancelled, tasks not yet started are left ``not_run`` and
``Interrupted`` carries the partial outcome to the caller.
"""

from __future__ import annotations

import hashlib
import math
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Any

from dagspec_runtime.errors import StepFailed, StepSkipped
from dagspec_runtime.run_context import RunContext, TaskTry

__all__ = ["Interrupted", "Outcome", "Plan", "RunContext", "Task", "run_plan"]

SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED = "success", "failed", "skipped", "upstream_failed"
NOT_RUN, UP_FOR_RETRY, RUNNING = "none", "up_for_retry", "running"
TERMINAL = frozenset({SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED})
ALL_SUCCESS, ALL_DONE = "all_success", "all_done"
DEFAULT_POOL = "default_pool"
DEFAULT_POOL_SLOTS = 128  # Airflow's default_pool
DEFAULT_RETRY_DELAY = 300.0  # Airflow's default retry_delay
MAX_RETRY_DELAY = 24 * 60 * 60  # Airflow's [core] max_task_retry_delay
EXIT_BY_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


@dataclass
class Task:
    """One task of a run plan (or one instance of a mapped task: ``map_index`` >= 0)."""

    task_id: str
    call: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    upstream: list[str] = field(default_factory=list)
    trigger_rule: str = ALL_SUCCESS
    retries: int = 0
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY
    retry_exponential_backoff: bool | float = False  # Airflow 3.3: a multiplier; true is 2
    pool: str | None = None
    priority_weight: int = 1
    execution_timeout_seconds: float | None = None
    inline: bool = False  # run in the main thread (so an interrupt reaches the step itself)
    map_over: str | None = None  # expand over the list this task returned
    map_arg: str = "sub_group"
    map_index: int = -1
    max_active: int | None = None

    @property
    def key(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    @property
    def max_attempts(self) -> int:
        return 1 + max(0, int(self.retries))

    def delay_before(self, attempt: int, jitter_key: str = "") -> float:
        """Seconds to wait before try ``attempt`` (2, 3, ...): Airflow 3.3's formula
        (``TaskInstance.next_retry_datetime``). With a backoff multiplier m, the try that failed
        (``attempt - 1``) waits at least ceil(delay * m ** (attempt - 2)) s, at least 1 s, plus a
        jitter below that, fixed per try by a hash of ``jitter_key`` (Airflow hashes
        ``dag_id#task_id#logical_date#try_number``); capped at 24 h."""
        delay = float(self.retry_delay_seconds)
        multiplier = backoff_multiplier(self.retry_exponential_backoff)
        if multiplier == 1.0 or multiplier <= 0:
            return delay
        try:
            least = math.ceil(delay * multiplier ** (attempt - 2))
        except OverflowError:
            least = MAX_RETRY_DELAY
        least = max(1, least)
        digest = hashlib.sha1(f"{jitter_key}#{attempt - 1}".encode(), usedforsecurity=False)
        return float(min(least + int(digest.hexdigest(), 16) % least, MAX_RETRY_DELAY))


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

    def leaves(self) -> list[str]:
        """Task ids no other task depends on (they decide the run's state, as in Airflow)."""
        upstream = {u for task in self.tasks for u in task.upstream}
        return [t.task_id for t in self.tasks if t.task_id not in upstream]

    def weights(self) -> dict[str, int]:
        """Each task's effective priority: its own weight plus all its downstream tasks'."""
        below: dict[str, set[str]] = {t.task_id: set() for t in self.tasks}
        for task in self.tasks:
            for u in task.upstream:
                below.setdefault(u, set()).add(task.task_id)
        own = {t.task_id: int(t.priority_weight) for t in self.tasks}
        memo: dict[str, set[str]] = {}

        def downstream(task_id: str) -> set[str]:
            if task_id not in memo:
                found: set[str] = set()
                for child in below.get(task_id, ()):
                    found |= {child} | downstream(child)
                memo[task_id] = found
            return memo[task_id]

        return {t: own[t] + sum(own.get(d, 0) for d in downstream(t)) for t in own}


@dataclass
class Outcome:
    """What happened to one task (instance)."""

    task_id: str
    state: str = NOT_RUN
    attempts: int = 0
    max_attempts: int = 1
    error: str | None = None
    duration_s: float = 0.0
    value: Any = None
    map_index: int | None = None


class Interrupted(BaseException):
    """A signal stopped the run (a BaseException, like KeyboardInterrupt, so a step's
    ``except Exception`` cannot swallow it and its ``finally`` still releases what it holds)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = EXIT_BY_SIGNAL.get(signal.Signals(signum), 128 + signum)
        self.outcomes: dict[str, Outcome] = {}
        self.cancelled: list[str] = []


class TaskTimedOut(BaseException):
    """An inline try ran past its execution timeout (Airflow's AirflowTaskTimeout is a
    BaseException too, so a step's ``except Exception`` does not swallow it)."""


def backoff_multiplier(value: bool | float | None) -> float:
    """Airflow 3.3's ``retry_exponential_backoff`` as a multiplier (true: 2; 0 or false: 1)."""
    if isinstance(value, bool):
        return 2.0 if value else 1.0
    return float(value) if value else 1.0


Step = Callable[..., Any]
Finished = tuple[str, int, str, Any, "str | None", bool, float]


def timeout_message(seconds: float) -> str:
    return f"AirflowTaskTimeout: timed out after {seconds:g} s (execution_timeout)"


def run_plan(
    plan: Plan,
    steps: Mapping[str, Step],
    ctx: RunContext,
    *,
    handle_signals: bool = True,
) -> dict[str, Outcome]:
    """Run every task of ``plan``; the outcome of each task instance, by key (``task`` or
    ``task[i]``), in the order a report lists them. Raises ``Interrupted`` on a signal."""
    order = {t.task_id: i for i, t in enumerate(plan.tasks)}
    weights = plan.weights()
    tasks: dict[str, Task] = {t.key: t for t in plan.tasks}
    outcomes = {t.key: Outcome(t.task_id, max_attempts=t.max_attempts) for t in plan.tasks}
    expanded: dict[str, list[str]] = {}  # mapped task id -> its instance keys
    retry_at: dict[str, float] = {}
    deadline: dict[str, float] = {}
    running: dict[str, tuple[threading.Thread, TaskTry]] = {}
    in_use: dict[str, int] = {}
    finished: queue.Queue[Finished] = queue.Queue()

    def slots(pool: str) -> int:
        return plan.pools.get(pool, DEFAULT_POOL_SLOTS)

    def attempt(task: Task, task_try: TaskTry) -> tuple[str, Any, str | None, bool]:
        step = steps[task.call]
        try:
            with ctx.running(task_try):
                if task.inline and task.execution_timeout_seconds:
                    with _alarm(float(task.execution_timeout_seconds)):
                        return SUCCESS, step(ctx, **task.kwargs), None, True
                return SUCCESS, step(ctx, **task.kwargs), None, True
        except StepSkipped as exc:
            return SKIPPED, None, str(exc), False
        except StepFailed as exc:
            return FAILED, exc.value, str(exc) or type(exc).__name__, exc.retry
        except TaskTimedOut:
            ctx.log.error(
                "task %s: %s", task.key, timeout_message(float(task.execution_timeout_seconds or 0))
            )
            ctx.cancel_try(task_try.key)
            return FAILED, None, timeout_message(float(task.execution_timeout_seconds or 0)), True
        except Exception as exc:  # a crashed step is a failed task, as in Airflow
            ctx.log.exception("task %s crashed", task.key)
            return FAILED, None, f"{type(exc).__name__}: {exc}", True

    def work(task: Task, task_try: TaskTry) -> None:
        started = time.monotonic()
        state, value, error, retry = attempt(task, task_try)
        finished.put(
            (task.key, task_try.try_number, state, value, error, retry, time.monotonic() - started)
        )

    def upstream_keys(task: Task) -> list[str]:
        keys = []
        for u in task.upstream:
            if u not in expanded:
                keys.append(u)
            elif task.map_index >= 0 and tasks_by_id[u].map_over == task.map_over:
                keys.append(f"{u}[{task.map_index}]")  # the same sub-group's instance
            else:
                keys += expanded[u]
        return keys

    tasks_by_id = {t.task_id: t for t in plan.tasks}

    def expand(template: Task) -> None:
        """Instantiate a mapped task over what its source returned (none: it is skipped)."""
        value = ctx.values.get(template.map_over or "")
        items = list(value) if isinstance(value, (list, tuple)) else []
        if not items:
            outcomes[template.key].state = SKIPPED  # Airflow: a zero-length expansion
            return
        del tasks[template.key], outcomes[template.key]
        keys = []
        for index, item in enumerate(items):
            instance = replace(
                template, map_index=index, kwargs={**template.kwargs, template.map_arg: item}
            )
            tasks[instance.key] = instance
            outcomes[instance.key] = Outcome(
                template.task_id, max_attempts=instance.max_attempts, map_index=index
            )
            keys.append(instance.key)
        expanded[template.task_id] = keys

    def template_states(template: Task) -> list[str] | None:
        """What a mapped task waits for before it is expanded (None: not yet): its source
        and its upstream tasks outside its own group (as Airflow, which decides
        upstream_failed on the unexpanded task when one of those failed)."""
        states = [outcomes[template.map_over].state] if template.map_over in outcomes else []
        for u in template.upstream:
            same_group = tasks_by_id[u].map_over == template.map_over
            if same_group and u in expanded:
                continue  # per sub-group, once expanded
            states += [outcomes[k].state for k in (expanded.get(u) or [u]) if k in outcomes]
        return states if all(st in TERMINAL for st in states) else None

    def release(task: Task) -> None:
        pool = task.pool or DEFAULT_POOL
        in_use[pool] = in_use.get(pool, 1) - 1
        running.pop(task.key, None)
        deadline.pop(task.key, None)

    def settle(
        key: str,
        try_number: int,
        state: str,
        value: Any,
        error: str | None,
        retry: bool,
        took: float,
    ) -> None:
        task, outcome = tasks.get(key), outcomes.get(key)
        if (
            task is None
            or outcome is None
            or outcome.attempts != try_number
            or outcome.state != RUNNING
        ):
            return  # a try that timed out already and was settled then
        release(task)
        outcome.duration_s += took
        outcome.error = error if state == FAILED else None
        if state == SUCCESS:
            ctx.values[key] = value
        if state == FAILED and retry and outcome.attempts < outcome.max_attempts:
            delay = task.delay_before(
                outcome.attempts + 1, f"{plan.dag_id}#{task.task_id}#{ctx.run_id}"
            )
            ctx.log.warning(
                "task %s failed (try %d of %d): %s; retrying in %g s",
                key,
                outcome.attempts,
                outcome.max_attempts,
                error,
                delay,
            )
            outcome.state = UP_FOR_RETRY
            retry_at[key] = time.monotonic() + delay
            return
        outcome.state, outcome.value = state, value
        if state == FAILED:
            ctx.log.error("task %s failed: %s", key, error)

    def time_out() -> None:
        """Cancel and fail every try running past its execution timeout."""
        now = time.monotonic()
        for key, at in list(deadline.items()):
            if at > now or key not in running:
                continue
            task, (_, task_try) = tasks[key], running[key]
            message = timeout_message(float(task.execution_timeout_seconds or 0))
            ctx.log.error("task %s: %s: cancelling it", key, message)
            # in the background: a job that ignores SIGTERM takes Slurm's KillWait to end, and
            # the loop must go on starting and retrying the other tasks meanwhile
            canceller = threading.Thread(
                target=ctx.cancel_try, args=(key,), daemon=True, name=f"cancel-{key}"
            )
            canceller.start()
            cancelling.append(canceller)  # joined before the run ends: it must not outlive it
            settle(
                key,
                task_try.try_number,
                FAILED,
                None,
                message,
                True,
                float(task.execution_timeout_seconds or 0),
            )

    def ready() -> tuple[list[Task], bool]:
        """Tasks that may start now, highest priority first; and whether any state was
        decided on the way (upstream_failed, skipped), which may decide others."""
        chosen = []
        decided = False
        now = time.monotonic()
        for task in sorted(tasks.values(), key=lambda t: (order[t.task_id], t.map_index)):
            outcome = outcomes[task.key]
            if outcome.state not in (NOT_RUN, UP_FOR_RETRY) or task.key in running:
                continue
            if retry_at.get(task.key, 0.0) > now:
                continue
            template = task.map_over is not None and task.map_index < 0
            if template:
                found = template_states(task)
                if found is None:
                    continue
                states = found
            else:
                states = [outcomes[u].state for u in upstream_keys(task) if u in outcomes]
                if any(s not in TERMINAL for s in states):
                    continue
            if task.trigger_rule == ALL_SUCCESS:
                if any(s in (FAILED, UPSTREAM_FAILED) for s in states):
                    outcome.state = UPSTREAM_FAILED
                    decided = True
                    continue
                if SKIPPED in states:
                    outcome.state = SKIPPED
                    decided = True
                    continue
            if template:
                expand(task)  # its instances are looked at in the next pass
                decided = True
                continue
            chosen.append(task)
        # the highest effective weight first; then definition order, then map index
        return sorted(
            chosen, key=lambda t: (-weights[t.task_id], order[t.task_id], t.map_index)
        ), decided

    def active(task_id: str) -> int:
        return sum(1 for key in running if tasks[key].task_id == task_id)

    def start(task: Task) -> None:
        pool = task.pool or DEFAULT_POOL
        in_use[pool] = in_use.get(pool, 0) + 1
        outcome = outcomes[task.key]
        outcome.attempts += 1
        outcome.state = RUNNING
        task_try = TaskTry(task.task_id, task.map_index, outcome.attempts, task.key)
        if task.inline:
            started = time.monotonic()
            running[task.key] = (threading.current_thread(), task_try)
            state, value, error, retry = attempt(task, task_try)
            settle(
                task.key,
                task_try.try_number,
                state,
                value,
                error,
                retry,
                time.monotonic() - started,
            )
            return
        if task.execution_timeout_seconds:
            deadline[task.key] = time.monotonic() + float(task.execution_timeout_seconds)
        thread = threading.Thread(
            target=work, args=(task, task_try), daemon=True, name=f"task-{task.key}"
        )
        running[task.key] = (thread, task_try)
        thread.start()

    cancelling: list[threading.Thread] = []  # cancels of timed-out tries, in the background
    with signals_raise(handle_signals):
        try:
            while True:
                progressed = True
                while progressed:  # states decided without running anything may free others
                    progressed = False
                    chosen, progressed = ready()
                    for task in chosen:
                        pool = task.pool or DEFAULT_POOL
                        if in_use.get(pool, 0) >= slots(pool):
                            continue
                        if task.max_active and active(task.task_id) >= task.max_active:
                            continue
                        start(task)
                        if task.inline:
                            progressed = True
                            break  # an inline task may have expanded or freed others
                if not running and not any(o.state == UP_FOR_RETRY for o in outcomes.values()):
                    break  # every task is done, or can never start
                timeout = _next_wake(retry_at, deadline, outcomes)
                with suppress(queue.Empty):
                    settle(*finished.get(timeout=timeout))
                time_out()
        except (Interrupted, KeyboardInterrupt) as exc:
            stop = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)
            ctx.log.error(
                "interrupted (%s): cancelling what this run started",
                signal.Signals(stop.signum).name,
            )
            with signals_ignored():
                stop.cancelled = list(dict.fromkeys(ctx.cancel()))
                for thread, _ in list(running.values()):
                    if thread is not threading.current_thread():
                        thread.join(timeout=30)
                while not finished.empty():
                    settle(*finished.get_nowait())
            for outcome in outcomes.values():
                if outcome.state in (RUNNING, UP_FOR_RETRY):
                    outcome.state = FAILED
                    outcome.error = outcome.error or f"interrupted by {stop}"
            stop.outcomes = _in_order(outcomes, order)
            raise stop from None
        finally:
            for canceller in cancelling:
                canceller.join()
    return _in_order(outcomes, order)


def _in_order(outcomes: Mapping[str, Outcome], order: Mapping[str, int]) -> dict[str, Outcome]:
    """Definition order, a mapped task's instances by map index (as Airflow lists them)."""
    return dict(
        sorted(
            outcomes.items(),
            key=lambda item: (
                order[item[1].task_id],
                item[1].map_index if item[1].map_index is not None else -1,
            ),
        )
    )


def _next_wake(
    retry_at: Mapping[str, float], deadline: Mapping[str, float], outcomes: Mapping[str, Outcome]
) -> float:
    """How long to wait for a finished task before a retry or a timeout becomes due (capped,
    so signals are noticed promptly without a busy loop)."""
    due = [at for t, at in retry_at.items() if outcomes[t].state == UP_FOR_RETRY]
    due += list(deadline.values())
    if not due:
        return 0.5
    return max(0.01, min(0.5, min(due) - time.monotonic()))


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise ``TaskTimedOut`` in the main thread after ``seconds`` (Airflow's own timeout
    works the same way, with SIGALRM)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _fire(_signum: int, _frame: Any) -> None:
        raise TaskTimedOut()

    previous = signal.signal(signal.SIGALRM, _fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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
