"""Failure kinds: a refusal is deterministic (bad data, unsafe schema change) and must not be
retried; anything else (a dropped connection) may be."""

from __future__ import annotations


class GateRefused(Exception):
    """A gate refused to let the run continue; retrying cannot help."""

    def __init__(self, gate: str, message: str) -> None:
        super().__init__(f"{gate}: {message}")
        self.gate = gate
