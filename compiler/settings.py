"""Task settings (retries, timeouts, pool, queue, owner, ...) and how levels inherit them.

A setting may be given at the project level (`defaults:` in dagspec.yaml), on a spec, on a
phase, process or step, and on a module; the nearest level that states a key wins. Only keys a
level states count: a level that says nothing passes its parent's value on. The compiled values
are rendered as Airflow task arguments, so `dagspec render` shows what each task gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compiler.render import Code, literal

# The keys every level accepts (schemas/common.schema.json#/$defs/taskSettings).
KEYS = (
    "retries",
    "retry_delay_seconds",
    "retry_exponential_backoff",
    "execution_timeout_seconds",
    "pool",
    "priority_weight",
    "queue",
    "owner",
)
_SECONDS = {"retry_delay_seconds": "retry_delay", "execution_timeout_seconds": "execution_timeout"}


def stated(
    level: Mapping[str, Any] | None, aliases: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The settings one level states; `aliases` maps an older key of that level to its setting
    (e.g. a reduction step's `max_retries` → `retries`), used when the setting itself is absent."""
    if not level:
        return {}
    found = {key: level[key] for key in KEYS if key in level}
    for old, key in (aliases or {}).items():
        if old in level and key not in found:
            found[key] = level[old]
    return found


def inherit(*levels: Mapping[str, Any]) -> dict[str, Any]:
    """Merge levels from the farthest (project) to the nearest (module): nearest wins."""
    merged: dict[str, Any] = {}
    for level in levels:
        merged.update(level)
    return {key: merged[key] for key in KEYS if key in merged}


def task_kwargs(
    settings: Mapping[str, Any],
    *,
    base: Mapping[str, Any] | None = None,
    skip: tuple[str, ...] = (),
) -> list[tuple[str, Code]]:
    """Airflow operator arguments for `settings`, as (name, code) pairs for the templates.

    With `base` (the DAG's default_args), only values that differ from it are listed: the
    rendered task shows what is special about it, default_args the rest.
    """
    out = []
    for key in KEYS:
        if key not in settings or key in skip:
            continue
        if base is not None and key in base and base[key] == settings[key]:
            continue
        value = settings[key]
        if key == "retry_exponential_backoff" and isinstance(value, bool):
            value = 2 if value else 0  # Airflow 3.3 takes a multiplier; true means doubling
        if key in _SECONDS:
            out.append((_SECONDS[key], Code(f"timedelta(seconds={literal(value)})")))
        else:
            out.append((key, literal(value)))
    return out


def needs_timedelta(*pairs: list[tuple[str, Code]]) -> bool:
    return any(name in _SECONDS.values() for group in pairs for name, _ in group)


def doc_rows(settings: Mapping[str, Any]) -> str:
    """`key=value` text of settings, for the DAG documentation table."""
    return ", ".join(f"{key}={settings[key]}" for key in KEYS if key in settings)
