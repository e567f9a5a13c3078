"""What a step of the fast local runner sees of its run, and how its work is cancelled.

A step gets the run's ``RunContext``: run id, DAG id, params, the results of earlier tasks, a
log, the run's Slurm tag, and the try it is running as (``current``: task id, map index, try
number). What a step starts (child processes, Slurm jobs) it registers with ``track`` or
``on_cancel``; registrations belong to the try that made them, so a timed-out try can be
cancelled alone (``cancel_try``) while an interrupt cancels everything (``cancel``).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

Canceller = Callable[[], list[str]]


@dataclass(frozen=True)
class TaskTry:
    """One try of one task instance (``key`` is ``task`` or ``task[i]`` for a mapped one)."""

    task_id: str
    map_index: int
    try_number: int
    key: str
    stop: threading.Event = field(default_factory=threading.Event, compare=False)


class RunContext:
    """What a step sees of its run: ids, params, upstream results, a log, and cancellation."""

    def __init__(
        self,
        run_id: str,
        params: Mapping[str, Any],
        log: logging.Logger,
        *,
        dag_id: str = "",
        run_tag: str | None = None,
    ) -> None:
        self.run_id = run_id
        self.dag_id = dag_id
        self.run_tag = run_tag
        self.params = dict(params)
        self.log = log
        self.values: dict[str, Any] = {}
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._procs: dict[str | None, set[subprocess.Popen[str]]] = {}
        self._cancellers: dict[str | None, list[Canceller]] = {}
        self._tries: dict[str, TaskTry] = {}

    # -- what the step reads ------------------------------------------------------------------
    def workspace(self) -> str | None:
        """Where ``prepare_workspace`` made this run's entity workspace (a path, or an object
        URL with declared storage); None if it did not. The steps open it themselves."""
        value = self.values.get("prepare_workspace")
        return str(value) if value else None

    def results_of(self, task_ids: Sequence[str]) -> list[Any]:
        """What every instance (each map index) of ``task_ids`` returned so far."""
        wanted = set(task_ids)
        return [value for key, value in self.values.items() if key.split("[", 1)[0] in wanted]

    @property
    def current(self) -> TaskTry | None:
        """The try this thread runs (None outside a step)."""
        return getattr(self._local, "task_try", None)

    def stop_event(self) -> threading.Event:
        """Set when this try must stop (timed out, or the run was interrupted)."""
        current = self.current
        return current.stop if current is not None else self.cancelled

    @contextmanager
    def running(self, task_try: TaskTry) -> Iterator[None]:
        """Run a step as ``task_try``; what it registered is forgotten when it returns."""
        self._local.task_try = task_try
        with self._lock:
            self._tries[task_try.key] = task_try
        if self.cancelled.is_set():
            task_try.stop.set()
        try:
            yield
        finally:
            self._local.task_try = None
            with self._lock:
                if self._tries.get(task_try.key) is task_try:
                    del self._tries[task_try.key]
                    self._procs.pop(task_try.key, None)
                    self._cancellers.pop(task_try.key, None)

    # -- what the step registers ----------------------------------------------------------------
    def track(self, proc: subprocess.Popen[str]) -> None:
        """Remember a child process so a cancel kills it (killed at once if already stopped)."""
        key = self.current.key if self.current else None
        with self._lock:
            self._procs.setdefault(key, set()).add(proc)
        if self.stop_event().is_set():
            self._kill(proc)

    def on_cancel(self, canceller: Canceller) -> None:
        """Register a callable that cancels what a step started; it returns what it cancelled."""
        key = self.current.key if self.current else None
        with self._lock:
            self._cancellers.setdefault(key, []).append(canceller)

    # -- cancelling -----------------------------------------------------------------------------
    def cancel(self) -> list[str]:
        """Stop every try, kill every tracked process, run every canceller; what was cancelled."""
        self.cancelled.set()
        with self._lock:
            for task_try in self._tries.values():
                task_try.stop.set()
            keys = list({*self._procs, *self._cancellers})
        done: list[str] = []
        for key in keys:
            done += self._cancel_key(key)
        return done

    def cancel_try(self, key: str) -> list[str]:
        """Stop one try (its execution timeout passed) and cancel what it started."""
        with self._lock:
            task_try = self._tries.get(key)
        if task_try is not None:
            task_try.stop.set()
        return self._cancel_key(key)

    def _cancel_key(self, key: str | None) -> list[str]:
        with self._lock:
            procs = list(self._procs.pop(key, ()))
            cancellers = list(self._cancellers.pop(key, ()))
        done = []
        for proc in procs:
            if proc.poll() is None:
                self._kill(proc)
                done.append(f"process {proc.pid}")
        for canceller in cancellers:
            try:
                done += canceller()
            except Exception as exc:  # report and go on cancelling
                self.log.error("cancelling failed: %s", exc)
        return done

    @staticmethod
    def _kill(proc: subprocess.Popen[str]) -> None:
        from dagspec_runtime.entity.module import kill_group

        kill_group(proc)
