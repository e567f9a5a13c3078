"""Read the end of a job's output file: the part of a failed job's log a person needs first."""

from __future__ import annotations

from collections import deque
from pathlib import Path


def tail_lines(path: str | Path, count: int = 20) -> list[str]:
    """Last `count` lines of `path`; empty when the file does not exist (yet)."""
    try:
        with open(path, errors="replace") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=count)]
    except FileNotFoundError:
        return []
