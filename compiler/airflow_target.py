"""The Airflow release a project's DAGs run on, and the spec features each release has.

``dagspec.yaml`` may name it (``spec.airflow_version: "3.1"``); else it is the installed Airflow
(read from the package metadata: the compiler never imports Airflow), else the newest supported.
A spec that uses a feature the target lacks gets a located error instead of a DAG file that
fails in the scheduler.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

#: Airflow minors whose DAG files dagspec writes and tests (README "Airflow versions").
SUPPORTED = ("3.1", "3.2", "3.3")
NEWEST = SUPPORTED[-1]

#: feature → (first Airflow minor that has it, what the spec writes to use it)
FEATURES: dict[str, tuple[str, str]] = {
    "deadline": ("3.1", "`notify.on_deadline` (Airflow's DeadlineAlert)"),
}


def _minor(version: str) -> tuple[int, int]:
    major, minor, *_ = (version.split(".") + ["0"])[:2]
    return int(major), int(minor)


def installed() -> str | None:
    """The installed Airflow's minor ("3.3"), or None without Airflow."""
    try:
        version = metadata.version("apache-airflow-core")
    except metadata.PackageNotFoundError:
        return None
    return "{}.{}".format(*_minor(version))


def target(config: dict[str, Any]) -> str:
    """The project's target minor: stated, else installed (when supported), else the newest."""
    stated = config.get("airflow_version")
    if stated:
        return str(stated)
    here = installed()
    return here if here in SUPPORTED else NEWEST


def lacks(feature: str, minor: str) -> str | None:
    """The first minor with `feature` when `minor` lacks it; None when it has it."""
    first, _ = FEATURES[feature]
    return first if _minor(minor) < _minor(first) else None
