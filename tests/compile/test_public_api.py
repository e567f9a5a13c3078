"""Every name a package exports resolves, and the compiler stays free of Airflow."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = [
    "dagspec",
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


def test_dagspec_is_the_one_public_path() -> None:
    """`dagspec` exports the compiler's whole API beside its own, under the same names."""
    import compiler
    import dagspec

    assert set(compiler.__all__) <= set(dagspec.__all__)
    assert all(getattr(dagspec, n) is getattr(compiler, n) for n in compiler.__all__)
    assert set(dagspec.__all__) - set(compiler.__all__) == {"RunReport", "RunResult", "run"}
    assert dagspec.__all__ == sorted(dagspec.__all__, key=lambda n: (not n.isupper(), n))
