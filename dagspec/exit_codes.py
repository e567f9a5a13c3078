"""The exit codes of every `dagspec` command, in one place (the README's table).

The runtime reports what happened to a run (a run report's `status`, `passed` and
`interrupted`) and never decides an exit code; `ExitCode.of_report` maps a report here, once,
for both ways of running.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """0 ok; 1 stale output, a failed run or a refused action; 2 a usage, I/O, spec (an error
    finding) or config error (nothing ran); 128 + the signal for a run a signal interrupted."""

    OK = 0
    FAILED = 1
    USAGE = 2
    SPEC = 2
    SIGHUP = 128 + signal.SIGHUP
    SIGINT = 128 + signal.SIGINT
    SIGTERM = 128 + signal.SIGTERM

    @classmethod
    def of_signal(cls, signame: str) -> ExitCode:
        """The code of a run interrupted by `signame` (`SIGINT`, `SIGTERM` or `SIGHUP`)."""
        return cls[signame]

    @classmethod
    def of_report(cls, report: Mapping[str, Any]) -> ExitCode:
        """The code of a run report: a spec or conf error, an interrupt, a pass or a failure."""
        if report["status"] == "config_error":
            return cls.SPEC
        if report["status"] == "interrupted":
            return cls.of_signal(report["interrupted"])
        return cls.OK if report["passed"] else cls.FAILED
