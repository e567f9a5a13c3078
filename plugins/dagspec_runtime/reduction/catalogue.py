"""The raw data catalogue on disk: one folder per raw data package with a `package.json`.

`package.json` holds the package's metadata (source, line, executed_obs_unit, ...), which is what
filter_rules select on and group_by partitions by; every other file in the folder is data. A
package's checksum covers its data files and its metadata, so any change is seen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METADATA_FILE = "package.json"


@dataclass(frozen=True)
class RawPackage:
    """One raw data package as found in the catalogue."""

    name: str
    path: Path
    metadata: dict[str, Any]
    files: tuple[Path, ...]
    checksum: str
    size_bytes: int
    newest_mtime: float
    id: int | None = field(default=None, compare=False)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_package(folder: Path) -> RawPackage:
    """Read metadata and checksum the files of one package folder."""
    meta_path = folder / METADATA_FILE
    metadata = json.loads(meta_path.read_text())
    if not isinstance(metadata, dict):
        raise ValueError(f"{meta_path}: metadata must be a JSON object")
    files = tuple(sorted(p for p in folder.rglob("*") if p.is_file() and p != meta_path))
    digest = hashlib.sha256()
    size = 0
    newest = meta_path.stat().st_mtime
    for path in (meta_path, *files):
        stat = path.stat()
        size += stat.st_size
        newest = max(newest, stat.st_mtime)
        digest.update(f"{path.relative_to(folder)}\0{sha256_file(path)}\n".encode())
    return RawPackage(folder.name, folder, metadata, files, digest.hexdigest(), size, newest)


def matches(metadata: Mapping[str, Any], rules: Mapping[str, Any]) -> bool:
    """Every rule holds: a scalar rule is equality, a list rule is membership."""
    for key, wanted in rules.items():
        value = metadata.get(key)
        if isinstance(wanted, list | tuple | set):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def scan_catalogue(root: Path, rules: Mapping[str, Any]) -> list[RawPackage]:
    """Packages under `root` (any depth) whose metadata matches `rules`, in path order."""
    if not root.is_dir():
        raise FileNotFoundError(f"raw data catalogue {root} does not exist")
    found = []
    for meta_path in sorted(root.rglob(METADATA_FILE)):
        metadata = json.loads(meta_path.read_text())
        if isinstance(metadata, dict) and matches(metadata, rules):
            found.append(read_package(meta_path.parent))
    return found
