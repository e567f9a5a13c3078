"""Child processes that end with their parent: `kill -9` of `dagspec` must leave nothing behind.

Linux's PR_SET_PDEATHSIG asks the kernel to signal a process when the thread that forked it
dies; it is set in the child and is lost if the parent died just before, hence the parent-pid
check right after. Elsewhere (no prctl) this does nothing and costs nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Have the calling process receive `sig` when its parent dies; exit now if it already did."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)
