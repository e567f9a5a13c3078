"""The stack's recovery parts on their own: the supervisor restarts what exits and stops with
it; a reused worker name is ready only once its new start says so."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import SCRIPTS, stack_module


def test_supervisor_restarts_an_exiting_part_and_stops_with_it(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    part = f"import pathlib; p = pathlib.Path({str(starts)!r}); p.write_text(p.read_text() + 'x')"
    part += " if p.exists() else p.write_text('x')"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "supervise.py"), "--name", "part"]
        + ["--restart-sec", "0.1", "--", sys.executable, "-c", part],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (starts.exists() and len(starts.read_text()) >= 3):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    _, err = proc.communicate()
    assert "supervise: part exited with code 0; restarting in 0s" in err


def test_supervisor_passes_sigterm_to_a_running_part(tmp_path: Path) -> None:
    marker = tmp_path / "stopped"
    part = (
        "import signal, sys, time, pathlib\n"
        f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path({str(marker)!r}).touch(), "
        "sys.exit(0)))\n"
        f"pathlib.Path({str(tmp_path / 'up')!r}).touch()\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "supervise.py"), "--name", "part", "--"]
        + [sys.executable, "-c", part]
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "up").exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert marker.exists()


def test_a_reused_worker_name_is_not_ready_from_its_old_log(tmp_path: Path) -> None:
    log = tmp_path / "worker-a.log"
    log.write_text("old start\n[...] celery@worker-a ready.\nold start stopped\n")
    part = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        record = {
            "processes": [
                {"name": "worker-a", "pid": 1, "start_time": 0},  # the old start
                {
                    "name": "worker-a",
                    "pid": part.pid,
                    "start_time": stack_module.start_time(part.pid),
                },
            ],
            "workers": {"worker-a": {"log": str(log), "log_offset": log.stat().st_size}},
        }
        with pytest.raises(SystemExit, match="not ready"):
            stack_module.wait_for_worker(record, "worker-a", timeout=1)

        def ready() -> None:
            with log.open("a") as out:
                out.write("celery@worker-a ready.\n")

        later = threading.Timer(0.5, ready)
        later.start()
        stack_module.wait_for_worker(record, "worker-a", timeout=60)
        later.join()
    finally:
        part.kill()
        part.wait()
