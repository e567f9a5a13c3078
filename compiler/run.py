"""`dagspec run`: compile, then run one DAG locally in a separate Airflow process.

The compiler never imports Airflow; the run happens in `python -m dagspec_runtime.local_run`
(plugins/), on the embedded SQLite metadata database in the project's `.airflow/` folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from compiler import api
from compiler.reporters import REPORTERS

EXIT_CONFIG = 2


def run_spec(root: Path, spec: str, *, entity: str | None = None, selector: str | None = None,
             conf: dict[str, Any], extra: list[str] = ()) -> int:
    """Run the DAG of `spec` (a file or a spec name), its `entity` or its process `selector`."""
    result = api.compile_project(root)
    if not result.ok:
        sys.stderr.write(REPORTERS["text"](result.findings, root))
        return EXIT_CONFIG
    spec_name = _spec_name(spec)
    choices = sorted(t.name for t in result.analysis.targets if t.sources[0].name == spec_name)
    if entity is not None:
        name = entity
    elif selector is not None:
        name = f"{spec_name}.{selector}"
    elif len(choices) == 1:
        name = choices[0]
    else:
        name = spec_name or spec
    dag_file = result.analysis.project.output_dir / f"{name}.py"
    if not dag_file.is_file():
        known = ", ".join(choices or sorted(t.name for t in result.analysis.targets)) or "none"
        print(f"dagspec run: `{name}` compiles to no DAG; choose one of: {known}",
              file=sys.stderr)
        return EXIT_CONFIG
    env = airflow_env(root)
    if not (Path(env["AIRFLOW_HOME"]) / "airflow.db").exists():
        print("dagspec run: creating the local Airflow database (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    command = [sys.executable, "-m", "dagspec_runtime.local_run", str(dag_file),
               "--dag-id", name, "--conf", json.dumps(conf), *extra]
    return subprocess.run(command, env=env, cwd=root).returncode


def airflow_env(root: Path) -> dict[str, str]:
    """The environment for a local Airflow process: project folders, no examples."""
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(root / ".airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(root / "generated_dags"))
    env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(root / "plugins"))
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def _spec_name(spec: str) -> str | None:
    path = Path(spec)
    return api._spec_name(path) if path.is_file() else spec
