"""A compilable copy of the spec cases' project (valid specs only) in a temp folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parents[1] / "specs"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(CASES, root, ignore=shutil.ignore_patterns("invalid"))
    config = root / "dagspec.yaml"
    config.write_text(config.read_text().replace("[alpha, beta, broken, other]", "[alpha, beta]"))
    return root
