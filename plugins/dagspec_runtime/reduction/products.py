"""Classify a step's output files into data products by the output folder convention.

A program writes into `<output_dir>/<kind>/...`; the first folder under the output dir names
the type. Files outside those folders are INTERMEDIATE (kept, but never mistaken for science).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dagspec_runtime.reduction.catalogue import sha256_file

FOLDER_TYPES = {
    "science": "SCIENCE",
    "intermediate": "INTERMEDIATE",
    "qa": "QA_METRIC",
    "plots": "PLOT",
    "statistics": "STATISTICS",
    "logs": "LOG",
}
PRODUCT_TYPES = tuple(FOLDER_TYPES.values())
# What a downstream step receives as `{inputs}` from an upstream step: data, not reports.
DATA_TYPES = frozenset({"SCIENCE", "INTERMEDIATE"})


@dataclass(frozen=True)
class ProductFile:
    path: Path
    product_type: str
    size: int
    checksum: str


def classify(relative: Path) -> str:
    """Type of a file from its path relative to the step's output dir."""
    top = relative.parts[0] if len(relative.parts) > 1 else ""
    return FOLDER_TYPES.get(top, "INTERMEDIATE")


def collect(output_dir: Path) -> list[ProductFile]:
    """Every file under `output_dir`, typed, sized and sha256-summed, in path order."""
    found = []
    for path in sorted(p for p in output_dir.rglob("*") if p.is_file()):
        found.append(
            ProductFile(
                path, classify(path.relative_to(output_dir)), path.stat().st_size, sha256_file(path)
            )
        )
    return found
