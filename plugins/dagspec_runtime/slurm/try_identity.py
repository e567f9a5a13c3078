"""Identify the Slurm job of one task try, so a re-run of that try re-attaches instead of
submitting a duplicate, and name its files so tries and map indexes never overwrite each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class TryKey:
    """dag_id / run_id / task_id / map_index / try_number of one task instance try."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int

    def comment(self) -> str:
        """The `--comment` carried by the job; squeue shows it, so it is how we find the job."""
        return (
            f"dagspec:{self.dag_id}/{self.run_id}/{self.task_id}"
            f"/map{self.map_index}/try{self.try_number}"
        )

    def stem(self, output_dir: str | Path) -> Path:
        """`<output_dir>/<dag>/<run>/<task>[.mapN].tryN`: add `.sh` or `.<jobid>.out`."""
        name = _safe(self.task_id)
        if self.map_index >= 0:
            name += f".map{self.map_index}"
        folder = Path(output_dir) / _safe(self.dag_id) / _safe(self.run_id)
        return folder / f"{name}.try{self.try_number}"


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "_"
