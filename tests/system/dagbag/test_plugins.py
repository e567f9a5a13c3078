"""Airflow's plugin loader must not import the runtime's files as top-level modules.

Without plugins/.airflowignore, Airflow imports every .py of the plugins folder under its bare
file name, so a runtime module named like a standard-library one would replace it in every task.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = ROOT / "plugins" / "dagspec_runtime"
pytestmark = pytest.mark.airflow

PROBE = """
import json, sys
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()
print(json.dumps(sorted(sys.modules)))
"""


def test_plugin_loading_imports_no_runtime_file_by_its_bare_name(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    stems = {p.stem for p in RUNTIME.rglob("*.py") if p.stem != "__init__"}
    assert not (stems - set(sys.stdlib_module_names)) & loaded


def test_no_runtime_module_is_named_like_a_standard_library_module() -> None:
    stems = {p.stem for p in RUNTIME.rglob("*.py")}
    assert not stems & set(sys.stdlib_module_names)
