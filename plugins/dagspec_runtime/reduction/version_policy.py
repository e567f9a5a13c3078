"""Which software version a step runs, and which earlier results count as still valid.

compatible: run the latest registered version; a result of any version is still valid (a
non-breaking bump must not reprocess everything). exact: run the pinned version; only results
of that version are valid, so changing the pin reprocesses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RegisteredVersion:
    id: int
    version: str
    image_ref: str | None
    is_latest: bool


def choose_version(
    policy: str, pinned: str | None, registered: Sequence[RegisteredVersion], software: str
) -> RegisteredVersion:
    """The version to run now; an unknown pin or missing registration is an error, not a guess."""
    known = [v.version for v in registered]
    if not registered:
        raise LookupError(f"software {software!r} has no registered versions (register_software)")
    if policy == "exact":
        for version in registered:
            if version.version == pinned:
                return version
        raise LookupError(f"software {software!r}: pinned version {pinned!r} not in {known}")
    latest = [v for v in registered if v.is_latest]
    if len(latest) != 1:
        raise LookupError(f"software {software!r}: expected one latest version, got {latest}")
    return latest[0]


def reusable_versions(policy: str, pinned: str | None) -> frozenset[str] | None:
    """Versions whose results count as valid: None means any version."""
    return frozenset({pinned}) if policy == "exact" and pinned else None
