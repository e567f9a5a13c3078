"""The example project, copied into a scratch folder for `dagspec run` tests.

`copy_project(root)` copies `dagspec.yaml`, `specs/` and `examples/` (config, specs, example
programs and data) into `root` (created) and returns it; each test then edits its copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PARTS = ("dagspec.yaml", "specs", "examples")

CopyProject = Callable[[Path], Path]


def _copy(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_PARTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        else:
            shutil.copy(source, root / name)
    return root


@pytest.fixture(scope="session")
def copy_project() -> CopyProject:
    """A function that copies the example project into a folder (see the module docstring)."""
    return _copy
