"""Map a step's resource requirements (cpu, memory_gb, time_hours, gpu) to sbatch flags.

Slurm counts memory in whole megabytes and time limits in whole minutes; both are rounded up so
a job never gets less than it asked for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

KNOWN_KEYS = frozenset({"cpu", "memory_gb", "time_hours", "gpu"})


def format_memory(memory_gb: float) -> str:
    """`--mem` value: whole gigabytes as `NG`, fractions as whole megabytes `NM`."""
    if memory_gb <= 0:
        raise ValueError(f"memory_gb must be > 0, got {memory_gb!r}")
    if float(memory_gb).is_integer():
        return f"{int(memory_gb)}G"
    return f"{math.ceil(round(memory_gb * 1024, 6))}M"


def format_time_limit(time_hours: float) -> str:
    """`--time` value `HH:MM:SS` (or `D-HH:MM:SS` from a day on), rounded up to whole minutes."""
    if time_hours <= 0:
        raise ValueError(f"time_hours must be > 0, got {time_hours!r}")
    seconds = round(time_hours * 3600)  # 0.1 h is 360 s, not 360.0000000001 s
    minutes = max(1, math.ceil(seconds / 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    clock = f"{hours:02d}:{minutes:02d}:00"
    return f"{days}-{clock}" if days else clock


def resource_flags(resources: Mapping[str, Any] | None) -> list[str]:
    """sbatch flags for `resources`; missing or null keys leave Slurm's defaults in place."""
    resources = dict(resources or {})
    unknown = sorted(set(resources) - KNOWN_KEYS)
    if unknown:
        raise ValueError(f"unknown resource keys {unknown}; expected some of {sorted(KNOWN_KEYS)}")
    flags: list[str] = []
    cpu = resources.get("cpu")
    if cpu is not None:
        if int(cpu) != cpu or cpu < 1:
            raise ValueError(f"cpu must be a whole number >= 1, got {cpu!r}")
        flags.append(f"--cpus-per-task={int(cpu)}")
    if resources.get("memory_gb") is not None:
        flags.append(f"--mem={format_memory(float(resources['memory_gb']))}")
    if resources.get("time_hours") is not None:
        flags.append(f"--time={format_time_limit(float(resources['time_hours']))}")
    gpu = resources.get("gpu") or 0
    if int(gpu) != gpu or gpu < 0:
        raise ValueError(f"gpu must be a whole number >= 0, got {gpu!r}")
    if gpu:
        flags.append(f"--gres=gpu:{int(gpu)}")
    return flags
