"""No stranded work: a run holds its claims only while it is alive and working.

`holding_claims(ledger, run_id, lease)` wraps a run (the fast local path) or one gate (the
Airflow path):

- a heartbeat thread renews the run's leases every third of the lease, so a live run keeps its
  files however long a gate takes, and a run killed with `kill -9` frees them one lease later;
- SIGTERM and SIGHUP become a `RunInterrupted` exception (only where nobody else handles them:
  under Airflow's task runner, SIGTERM calls the operator's `on_kill`, which releases instead);
- any failure, refusal or interrupt (KeyboardInterrupt too) releases the claims at once, so the
  next run picks the files up instead of skipping them for a lease.

Pure runtime: no Airflow import.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

from dagspec_runtime.metalog.ledger import Ledger

CATCH = (signal.SIGTERM, signal.SIGHUP)


class RunInterrupted(BaseException):  # like KeyboardInterrupt, not an error
    """The run got SIGTERM or SIGHUP. A BaseException so no `except Exception` retries it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class Heartbeat:
    """Renews the run's leases in a daemon thread until stopped."""

    def __init__(self, ledger: Ledger, run_id: str, lease_seconds: float) -> None:
        self.ledger, self.run_id, self.lease = ledger, run_id, lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="dagspec-lease", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                self.ledger.renew(self.run_id, self.lease)
            except Exception:  # a missed beat only shortens the lease
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise RunInterrupted(signum)


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """SIGTERM/SIGHUP raise RunInterrupted inside the block (main thread, default handler)."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in CATCH:
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                previous[sig] = signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def holding_claims(ledger: Ledger, run_id: str, lease_seconds: float) -> Iterator[Heartbeat]:
    """Heartbeat while the block runs; release every claim of the run if it does not finish."""
    beat = Heartbeat(ledger, run_id, lease_seconds).start()
    try:
        with signals_as_exceptions():
            yield beat
    except BaseException:
        beat.stop()
        release_quietly(ledger, run_id)
        raise
    finally:
        beat.stop()


def release_quietly(ledger: Ledger, run_id: str) -> None:
    """Release, without masking the failure that got us here if the database is gone too."""
    with suppress(Exception):  # the lease still expires on its own
        ledger.release(run_id)
