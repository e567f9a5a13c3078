"""Cancelling a local run: one way for both paths (fast, and `dag.test()` under `--airflow`).

SIGINT, SIGTERM and SIGHUP raise ``Interrupted`` in the main thread while a run lasts
(``signals_raise``); whoever catches it stops starting work, ends what the run started with
``end_run`` (``ownership.end_run``: module process groups killed, submissions in flight waited
for, every live Slurm job carrying the run's tag cancelled) with further signals ignored
(``signals_ignored``), and says what it ended in one line (``summary``). ``owned_run`` gives a
run its tag and the guard that does the same should the run's process be killed with SIGKILL.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dagspec_runtime import ownership

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A signal stopped the run (a BaseException, like KeyboardInterrupt, so a step's
    ``except Exception`` cannot swallow it and its ``finally`` still releases what it holds).
    ``outcomes`` and ``cancelled`` carry what the run had done and what was ended."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.outcomes: dict[str, Any] = {}
        self.cancelled: list[str] = []

    @property
    def signame(self) -> str:
        """``SIGINT``, ``SIGTERM`` or ``SIGHUP``."""
        return str(self.args[0])

    @classmethod
    def of(cls, exc: BaseException) -> Interrupted:
        """The interrupt an ``Interrupted`` or a ``KeyboardInterrupt`` (SIGINT) stands for."""
        return exc if isinstance(exc, Interrupted) else cls(signal.SIGINT)


def end_run(tag: str, warn: Callable[[str], object]) -> list[str]:
    """End what the run ``tag`` started (``ownership.end_run``); what was ended. Slurm out of
    reach is said through ``warn``, not raised: the rest of the run is ended all the same."""
    from dagspec_runtime.slurm import slurm_cli

    try:
        return ownership.end_run(tag)
    except (OSError, slurm_cli.SlurmCommandError) as exc:
        warn(f"could not cancel Slurm jobs: {exc}")
        return []


def summary(signame: str, cancelled: list[str]) -> str:
    """`interrupted by SIGINT; cancelled Slurm job(s) 41, 42; stopped process 4711`."""
    jobs = [c.removeprefix("Slurm job ") for c in cancelled if c.startswith("Slurm job ")]
    other = [c for c in cancelled if not c.startswith("Slurm job ")]
    what = [f"cancelled Slurm job(s) {', '.join(jobs)}"] if jobs else []
    what += [f"stopped {', '.join(other)}"] if other else []
    return f"interrupted by {signame}; {'; '.join(what) or 'no Slurm job of this run was running'}"


@contextmanager
def owned_run() -> Iterator[str]:
    """A new run tag (``ownership``) for the run this block makes, with the guard
    (``slurm.run_guard``) that ends the run should this process be killed; when the block is
    left, the guard is stopped and the run's ledger discarded."""
    from dagspec_runtime.slurm import run_guard

    tag = ownership.new_tag()
    guard = run_guard.start(tag)
    try:
        yield tag
    finally:
        run_guard.stop(guard)
        ownership.discard(tag)


def _raise(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


@contextmanager
def signals_raise(enabled: bool = True) -> Iterator[None]:
    """SIGINT/SIGTERM/SIGHUP raise ``Interrupted`` in the main thread while the block lasts."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in SIGNALS}
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
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
