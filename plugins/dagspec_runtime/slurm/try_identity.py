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

    def comment(self, run_tag: str | None = None) -> str:
        """The `--comment` carried by the job; squeue shows it, so it is how we find the job.

        `run_tag` (e.g. set by `dagspec run`) is appended as `@TAG`, so every job of one local
        run can be cancelled together without knowing Airflow's run id.
        """
        text = f"{self.task_prefix()}{self.try_number}"
        return f"{text}@{run_tag}" if run_tag else text

    def task_prefix(self) -> str:
        """`dagspec:<dag>/<run>/<task>/map<i>/try`: shared by every try of this task instance."""
        return f"dagspec:{self.dag_id}/{self.run_id}/{self.task_id}/map{self.map_index}/try"

    def stem(self, output_dir: str | Path) -> Path:
        """`<output_dir>/<dag>/<run>/<task>[.mapN].tryN`: add `.sh` or `.<jobid>.out`."""
        name = _safe(self.task_id)
        if self.map_index >= 0:
            name += f".map{self.map_index}"
        folder = Path(output_dir) / _safe(self.dag_id) / _safe(self.run_id)
        return folder / f"{name}.try{self.try_number}"


def parse_comment(comment: str) -> tuple[TryKey, str | None] | None:
    """The try key and run tag a job's comment names; None for jobs dagspec did not submit."""
    if not comment.startswith("dagspec:"):
        return None
    body, _, tag = comment[len("dagspec:") :].partition("@")
    parts = body.split("/")
    if len(parts) < 5 or not parts[-2].startswith("map") or not parts[-1].startswith("try"):
        return None
    try:
        map_index, try_number = int(parts[-2][3:]), int(parts[-1][3:])
    except ValueError:
        return None
    key = TryKey(parts[0], "/".join(parts[1:-3]), parts[-3], map_index, try_number)
    return key, tag or None


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "_"
