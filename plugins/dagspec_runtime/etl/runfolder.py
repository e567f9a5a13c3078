"""Files that carry data between gate tasks: small JSON reports and JSON-lines row files.

Why files and not XCom: row sets can be large, and a retried gate must find exactly what the
gate before it produced. Writes are atomic (temp file + rename) so a killed task never leaves a
half-written artifact that the retry would trust.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

DEFAULT_ROOT_ENV = "DAGSPEC_RUN_ROOT"


def default_root() -> Path:
    return Path(os.environ.get(DEFAULT_ROOT_ENV) or Path(tempfile.gettempdir()) / "dagspec-runs")


def safe_name(text: str) -> str:
    """Run ids contain ':' and '+'; keep folder names portable."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "run"


def run_dir(root: str | os.PathLike[str] | None, process: str, run_id: str) -> Path:
    path = Path(root or default_root()) / safe_name(process) / safe_name(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Compact, through `json.dumps`: `json.dump` and `indent` both use json's pure-Python
    encoder, which made writing the unit list of a 5,000-file run its slowest step."""
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    _atomic_write(path, lambda fh: fh.write(text))


def read_json(path: Path) -> Any:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: did the previous gate run for this run id?")
    return json.loads(path.read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    count = 0

    def write(fh: Any) -> None:
        nonlocal count
        for row in rows:
            fh.write(json.dumps(row, default=str, separators=(",", ":")))
            fh.write("\n")
            count += 1

    _atomic_write(path, write)
    return count


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
