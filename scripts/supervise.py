"""Run one stack part and start it again whenever it exits, as systemd's ``Restart=always``.

    python supervise.py --name NAME [--restart-sec 5] -- COMMAND...

Airflow's scheduler, dag-processor and triggerer exit when their database or broker goes away
for a few seconds; a production deployment restarts them (systemd, Kubernetes). This does the
same for the local stack: each exit is logged with its code and the part is started again after
``--restart-sec``, faster restarts being spaced out to at most one per 30 s after five quick
exits in a row. SIGTERM or SIGINT stops the part (the signal is passed on) and the supervisor.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from types import FrameType

QUICK = 10.0  # an exit sooner than this after the start counts as quick
QUICK_LIMIT, SLOW_RESTART = 5, 30.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--restart-sec", type=float, default=5.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    quick = 0
    while not stopping:
        started = time.monotonic()
        child = subprocess.Popen(command)
        code = child.wait()
        if stopping:  # asked to stop: the part's own exit (often by the signal) is expected
            return 0
        quick = quick + 1 if time.monotonic() - started < QUICK else 0
        delay = SLOW_RESTART if quick >= QUICK_LIMIT else args.restart_sec
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        print(
            f"{stamp} supervise: {args.name} exited with code {code}; restarting in {delay:.0f}s",
            file=sys.stderr,
            flush=True,
        )
        until = time.monotonic() + delay
        while not stopping and time.monotonic() < until:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
