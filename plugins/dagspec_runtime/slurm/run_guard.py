"""End what a local run started if the run dies without doing it (`kill -9`).

    python -m dagspec_runtime.slurm.run_guard PARENT_PID RUN_TAG

`dagspec run` (both paths) starts this beside itself, in its own session and deaf to
SIGINT/SIGTERM/SIGHUP (the run handles those itself), and kills it when the run ends. If the
run's process disappears first, the guard sees its parent change and ends the run
(`ownership.end_run`): it kills the module processes in the run's ledger, waits for the
submissions in flight and cancels every live Slurm job carrying the run's tag. It polls
instead of using PR_SET_PDEATHSIG, which fires when the forking *thread* ends, not the process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

POLL_S = 0.5


def start(run_tag: str) -> subprocess.Popen[bytes]:
    """Start the guard for this process's run `run_tag`."""
    return subprocess.Popen(
        [sys.executable, "-m", "dagspec_runtime.slurm.run_guard", str(os.getpid()), run_tag],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(guard: subprocess.Popen[bytes]) -> None:
    """The run ended and cancelled what it had to: the guard has nothing left to do."""
    guard.kill()
    guard.wait()


def main(argv: Sequence[str]) -> int:
    parent, run_tag = int(argv[0]), argv[1]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while os.getppid() == parent:
        time.sleep(POLL_S)
    from dagspec_runtime import ownership

    ended = ownership.end_run(run_tag)
    ownership.discard(run_tag)
    print(
        f"dagspec run guard: run {run_tag} ended without cleaning up; ended: "
        f"{', '.join(ended) or 'nothing was running'}",
        file=sys.stderr,
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
