"""The fast path's scheduler: run a run plan's tasks in dependency order, without Airflow.

``Scheduler`` starts every task whose upstream tasks are done, in parallel threads up to its
pool's slots, and decides states the way Airflow does: ``all_success`` tasks become
``upstream_failed`` after a failed upstream task and ``skipped`` after a skipped one;
``all_done`` tasks run whatever happened upstream. A failed try is retried after
``retry_delay_seconds`` (grown by ``retry_exponential_backoff`` with Airflow's own formula and
jitter, see ``run_plan.Task.delay_before``) unless the step said retrying cannot help.

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

Interrupts (SIGINT, SIGTERM, SIGHUP, see ``cancel``) cancel the run: module processes are
killed, what the steps registered for cancelling is cancelled, tasks not yet started are left
``none`` and ``cancel.Interrupted`` carries the partial outcome to the caller.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

from dagspec_runtime.cancel import Interrupted, signals_ignored, signals_raise
from dagspec_runtime.errors import StepFailed, StepSkipped
from dagspec_runtime.run_context import RunContext, TaskTry
from dagspec_runtime.run_plan import ALL_SUCCESS, Plan, Task

__all__ = ["Outcome", "Scheduler"]

SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED = "success", "failed", "skipped", "upstream_failed"
NOT_RUN, UP_FOR_RETRY, RUNNING = "none", "up_for_retry", "running"
TERMINAL = frozenset({SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED})
DEFAULT_POOL = "default_pool"
DEFAULT_POOL_SLOTS = 128  # Airflow's default_pool
WAKE_S = 0.5  # the longest wait for a finished try: a signal is noticed this promptly

Step = Callable[..., Any]


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


@dataclass(frozen=True)
class Finished:
    """One try that ended: how, with what, and whether retrying may help."""

    key: str
    try_number: int
    state: str
    value: Any
    error: str | None
    retry: bool
    took_s: float


class TaskTimedOut(BaseException):
    """An inline try ran past its execution timeout (Airflow's AirflowTaskTimeout is a
    BaseException too, so a step's ``except Exception`` does not swallow it)."""


def timeout_message(seconds: float) -> str:
    return f"AirflowTaskTimeout: timed out after {seconds:g} s (execution_timeout)"


class Scheduler:
    """One run of one plan: ``run()`` submits ready tasks, polls for tries that finished,
    times out and retries them, and returns every task instance's ``Outcome``."""

    def __init__(self, plan: Plan, steps: Mapping[str, Step], ctx: RunContext) -> None:
        self.plan, self.steps, self.ctx = plan, steps, ctx
        self.order = {t.task_id: i for i, t in enumerate(plan.tasks)}
        self.weights = plan.weights()
        self.by_id = {t.task_id: t for t in plan.tasks}
        #: task instances by key (``task`` or ``task[i]``), and what happened to each
        self.tasks: dict[str, Task] = {t.key: t for t in plan.tasks}
        self.outcomes = {t.key: Outcome(t.task_id, max_attempts=t.max_attempts) for t in plan.tasks}
        self.expanded: dict[str, list[str]] = {}  # mapped task id -> its instance keys
        self.retry_at: dict[str, float] = {}  # key -> when its next try may start
        self.deadline: dict[str, float] = {}  # key -> when its running try times out
        self.running: dict[str, tuple[threading.Thread, TaskTry]] = {}
        self.in_use: dict[str, int] = {}  # pool -> slots taken
        self.finished: queue.Queue[Finished] = queue.Queue()
        self.cancelling: list[threading.Thread] = []  # cancels of timed-out tries

    # -- the loop -------------------------------------------------------------------------------
    def run(self, *, handle_signals: bool = True) -> dict[str, Outcome]:
        """Run every task; the outcome of each task instance, by key, in the order a report
        lists them. Raises ``Interrupted`` (with the outcomes so far) on a signal."""
        with signals_raise(handle_signals):
            try:
                while True:
                    self.submit_ready()
                    if not self.running and UP_FOR_RETRY not in self._states():
                        break  # every task is done, or can never start
                    self.poll()
            except (Interrupted, KeyboardInterrupt) as exc:
                raise self.cancel(Interrupted.of(exc)) from None
            finally:
                for canceller in self.cancelling:  # they must not outlive the run
                    canceller.join()
        return self.finish()

    def submit_ready(self) -> None:
        """Start what may start now; states decided without running anything (skipped,
        upstream_failed, an expansion) and inline tasks may free others, so look again."""
        progressed = True
        while progressed:
            chosen, progressed = self._ready()
            for task in chosen:
                pool = task.pool or DEFAULT_POOL
                if self.in_use.get(pool, 0) >= self.plan.pools.get(pool, DEFAULT_POOL_SLOTS):
                    continue
                if task.max_active and self._active(task.task_id) >= task.max_active:
                    continue
                self.submit(task)
                if task.inline:
                    progressed = True
                    break  # an inline task may have expanded or freed others

    def poll(self) -> None:
        """Wait for a try to finish (at most until a retry or a timeout is due) and settle
        it; then fail what ran past its timeout."""
        with suppress(queue.Empty):
            self.settle(self.finished.get(timeout=self._next_wake()))
        self.time_out()

    def cancel(self, stop: Interrupted) -> Interrupted:
        """A signal: cancel what the run started, wait for the running tries, fail what did
        not finish; ``stop`` with the outcomes and what was cancelled."""
        self.ctx.log.error("interrupted (%s): cancelling what this run started", stop.signame)
        with signals_ignored():
            stop.cancelled = list(dict.fromkeys(self.ctx.cancel()))
            for thread, _ in list(self.running.values()):
                if thread is not threading.current_thread():
                    thread.join(timeout=30)
            while not self.finished.empty():
                self.settle(self.finished.get_nowait())
        for outcome in self.outcomes.values():
            if outcome.state in (RUNNING, UP_FOR_RETRY):
                outcome.state = FAILED
                outcome.error = outcome.error or f"interrupted by {stop}"
        stop.outcomes = self.finish()
        return stop

    def finish(self) -> dict[str, Outcome]:
        """The outcomes in definition order, a mapped task's instances by map index (as
        Airflow lists them)."""

        def position(item: tuple[str, Outcome]) -> tuple[int, int]:
            outcome = item[1]
            index = outcome.map_index if outcome.map_index is not None else -1
            return self.order[outcome.task_id], index

        return dict(sorted(self.outcomes.items(), key=position))

    # -- starting a try -------------------------------------------------------------------------
    def submit(self, task: Task) -> None:
        """Start a try of ``task``: inline (in this thread, to the end) or in a thread."""
        pool = task.pool or DEFAULT_POOL
        self.in_use[pool] = self.in_use.get(pool, 0) + 1
        outcome = self.outcomes[task.key]
        outcome.attempts += 1
        outcome.state = RUNNING
        task_try = TaskTry(task.task_id, task.map_index, outcome.attempts, task.key)
        if task.inline:
            self.running[task.key] = (threading.current_thread(), task_try)
            self.settle(self._attempt(task, task_try))
            return
        if task.execution_timeout_seconds:
            self.deadline[task.key] = time.monotonic() + float(task.execution_timeout_seconds)
        thread = threading.Thread(
            target=lambda: self.finished.put(self._attempt(task, task_try)),
            daemon=True,
            name=f"task-{task.key}",
        )
        self.running[task.key] = (thread, task_try)
        thread.start()

    def _attempt(self, task: Task, task_try: TaskTry) -> Finished:
        """Call the task's step as ``task_try``; how it ended."""
        started = time.monotonic()
        state, value, error, retry = self._call(task, task_try)
        return Finished(
            task.key, task_try.try_number, state, value, error, retry, time.monotonic() - started
        )

    def _call(self, task: Task, task_try: TaskTry) -> tuple[str, Any, str | None, bool]:
        step = self.steps[task.call]
        ctx = self.ctx
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
            message = timeout_message(float(task.execution_timeout_seconds or 0))
            ctx.log.error("task %s: %s", task.key, message)
            ctx.cancel_try(task_try.key)
            return FAILED, None, message, True
        except Exception as exc:  # a crashed step is a failed task, as in Airflow
            ctx.log.exception("task %s crashed", task.key)
            return FAILED, None, f"{type(exc).__name__}: {exc}", True

    # -- ending a try ---------------------------------------------------------------------------
    def settle(self, done: Finished) -> None:
        """Record a finished try: success, a retry later, or the task's final failure."""
        task, outcome = self.tasks.get(done.key), self.outcomes.get(done.key)
        if (
            task is None
            or outcome is None
            or outcome.attempts != done.try_number
            or outcome.state != RUNNING
        ):
            return  # a try that timed out already and was settled then
        self._release(task)
        outcome.duration_s += done.took_s
        outcome.error = done.error if done.state == FAILED else None
        if done.state == SUCCESS:
            self.ctx.values[done.key] = done.value
        if done.state == FAILED and done.retry and outcome.attempts < outcome.max_attempts:
            delay = task.delay_before(
                outcome.attempts + 1, f"{self.plan.dag_id}#{task.task_id}#{self.ctx.run_id}"
            )
            self.ctx.log.warning(
                "task %s failed (try %d of %d): %s; retrying in %g s",
                done.key,
                outcome.attempts,
                outcome.max_attempts,
                done.error,
                delay,
            )
            outcome.state = UP_FOR_RETRY
            self.retry_at[done.key] = time.monotonic() + delay
            return
        outcome.state, outcome.value = done.state, done.value
        if done.state == FAILED:
            self.ctx.log.error("task %s failed: %s", done.key, done.error)

    def time_out(self) -> None:
        """Cancel and fail every try running past its execution timeout."""
        now = time.monotonic()
        for key, at in list(self.deadline.items()):
            if at > now or key not in self.running:
                continue
            task, (_, task_try) = self.tasks[key], self.running[key]
            seconds = float(task.execution_timeout_seconds or 0)
            message = timeout_message(seconds)
            self.ctx.log.error("task %s: %s: cancelling it", key, message)
            # in the background: a job that ignores SIGTERM takes Slurm's KillWait to end, and
            # the loop must go on starting and retrying the other tasks meanwhile
            canceller = threading.Thread(
                target=self.ctx.cancel_try, args=(key,), daemon=True, name=f"cancel-{key}"
            )
            canceller.start()
            self.cancelling.append(canceller)
            self.settle(Finished(key, task_try.try_number, FAILED, None, message, True, seconds))

    def _release(self, task: Task) -> None:
        pool = task.pool or DEFAULT_POOL
        self.in_use[pool] = self.in_use.get(pool, 1) - 1
        self.running.pop(task.key, None)
        self.deadline.pop(task.key, None)

    # -- what may start -------------------------------------------------------------------------
    def _ready(self) -> tuple[list[Task], bool]:
        """Tasks that may start now, highest priority first; and whether any state was
        decided on the way (upstream_failed, skipped), which may decide others."""
        chosen = []
        decided = False
        now = time.monotonic()
        for task in sorted(self.tasks.values(), key=lambda t: (self.order[t.task_id], t.map_index)):
            outcome = self.outcomes[task.key]
            if outcome.state not in (NOT_RUN, UP_FOR_RETRY) or task.key in self.running:
                continue
            if self.retry_at.get(task.key, 0.0) > now:
                continue
            template = task.map_over is not None and task.map_index < 0
            if template:
                found = self._template_states(task)
                if found is None:
                    continue
                states = found
            else:
                keys = self._upstream_keys(task)
                states = [self.outcomes[u].state for u in keys if u in self.outcomes]
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
                self._expand(task)  # its instances are looked at in the next pass
                decided = True
                continue
            chosen.append(task)
        # the highest effective weight first; then definition order, then map index
        chosen.sort(key=lambda t: (-self.weights[t.task_id], self.order[t.task_id], t.map_index))
        return chosen, decided

    def _upstream_keys(self, task: Task) -> list[str]:
        keys = []
        for u in task.upstream:
            if u not in self.expanded:
                keys.append(u)
            elif task.map_index >= 0 and self.by_id[u].map_over == task.map_over:
                keys.append(f"{u}[{task.map_index}]")  # the same sub-group's instance
            else:
                keys += self.expanded[u]
        return keys

    def _template_states(self, template: Task) -> list[str] | None:
        """What a mapped task waits for before it is expanded (None: not yet): its source
        and its upstream tasks outside its own group (as Airflow, which decides
        upstream_failed on the unexpanded task when one of those failed)."""
        outcomes = self.outcomes
        states = [outcomes[template.map_over].state] if template.map_over in outcomes else []
        for u in template.upstream:
            same_group = self.by_id[u].map_over == template.map_over
            if same_group and u in self.expanded:
                continue  # per sub-group, once expanded
            states += [outcomes[k].state for k in (self.expanded.get(u) or [u]) if k in outcomes]
        return states if all(st in TERMINAL for st in states) else None

    def _expand(self, template: Task) -> None:
        """Instantiate a mapped task over what its source returned (none: it is skipped)."""
        value = self.ctx.values.get(template.map_over or "")
        items = list(value) if isinstance(value, (list, tuple)) else []
        if not items:
            self.outcomes[template.key].state = SKIPPED  # Airflow: a zero-length expansion
            return
        del self.tasks[template.key], self.outcomes[template.key]
        keys = []
        for index, item in enumerate(items):
            instance = replace(
                template, map_index=index, kwargs={**template.kwargs, template.map_arg: item}
            )
            self.tasks[instance.key] = instance
            self.outcomes[instance.key] = Outcome(
                template.task_id, max_attempts=instance.max_attempts, map_index=index
            )
            keys.append(instance.key)
        self.expanded[template.task_id] = keys

    def _active(self, task_id: str) -> int:
        return sum(1 for key in self.running if self.tasks[key].task_id == task_id)

    def _states(self) -> set[str]:
        return {o.state for o in self.outcomes.values()}

    def _next_wake(self) -> float:
        """How long to wait for a finished try before a retry or a timeout becomes due (capped,
        so signals are noticed promptly without a busy loop)."""
        due = [at for t, at in self.retry_at.items() if self.outcomes[t].state == UP_FOR_RETRY]
        due += list(self.deadline.values())
        if not due:
            return WAKE_S
        return max(0.01, min(WAKE_S, min(due) - time.monotonic()))


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
