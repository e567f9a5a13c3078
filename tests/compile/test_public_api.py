"""Every name a package exports resolves, and the compiler stays free of Airflow."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = [
    "compiler",
    "dagspec_runtime.entity",
    "dagspec_runtime.etl",
    "dagspec_runtime.metalog",
    "dagspec_runtime.reduction",
    "dagspec_runtime.slurm",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__
    for exported in module.__all__:
        assert getattr(module, exported) is not None


def test_compiler_never_imports_airflow() -> None:
    probe = (
        "import sys, compiler, dagspec.cli, dagspec.run, compiler.graph; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('airflow', 'dagspec_runtime')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
