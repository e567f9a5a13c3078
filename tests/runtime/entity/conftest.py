"""Fixtures for the entity runtime: a throwaway project (examples copied in) and its DAG file.

The DAG file is written by hand in exactly the shape the compiler's template emits, so these
tests pin the operators' public contract, not the compiler.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]

# phase -> [(module, script, required, inputs)]
PHASES: dict[str, list[tuple[str, str, bool, dict[str, str]]]] = {
    "pull": [("model-pull", "pull.py", True, {})],
    "govern": [
        ("governance", "govern.py", True, {"model": "pull/model.json"}),
        (
            "profile",
            "profile.py",
            False,
            {"model": "pull/model.json", "records": "pull/records.json"},
        ),
    ],
    "compile": [
        (
            "bronze-sql",
            "compile_sql.py",
            True,
            {"model": "pull/model.json", "governance": "govern/governance.json"},
        ),
        (
            "datacontract",
            "contract.py",
            True,
            {"model": "pull/model.json", "governance": "govern/governance.json"},
        ),
    ],
    "deploy": [
        (
            "ddl-check",
            "deploy.py",
            True,
            {"ddl": "compile/artifacts/bronze.sql", "records": "pull/records.json"},
        ),
    ],
    "register": [
        (
            "registry",
            "register.py",
            True,
            {
                "model": "pull/model.json",
                "contract": "compile/artifacts/datacontract.yaml",
                "ddl": "compile/artifacts/bronze.sql",
            },
        ),
    ],
    "support": [
        (
            "docs",
            "docs.py",
            True,
            {"model": "pull/model.json", "governance": "govern/governance.json"},
        ),
    ],
}

MAPPING = {
    "pull/model.json": "models/{entity}/model.json",
    "govern/governance.json": "models/{entity}/governance.json",
    "compile/artifacts/datacontract.yaml": "models/{entity}/datacontract.yaml",
    "compile/artifacts/bronze.sql": "snowflake/ddl/{entity}.sql",
    "compile/artifacts/dbt_bronze.sql": "dbt/models/bronze/{entity}.sql",
    "compile/artifacts/openapi.yaml": "apis/{entity}/openapi.yaml",
    "register/registry.json": "registry/{entity}.json",
    "support/README.md": "docs/entities/{entity}.md",
}


def render_dag(
    entity: str,
    *,
    dag_id: str | None = None,
    phases: dict[str, list[tuple[str, list[str], bool, dict[str, str]]]] | None = None,
    mapping: dict[str, str] | None = None,
    timeout_seconds: int = 60,
) -> str:
    """A DAG file in the compiler template's shape; ``phases`` maps to (module, cmd, req, in)."""
    if phases is None:
        phases = {
            phase: [(m, ["python", f"examples/modules/{s}"], r, i) for m, s, r, i in modules]
            for phase, modules in PHASES.items()
        }
    mapping = MAPPING if mapping is None else mapping
    lines = [
        "from datetime import datetime, timezone",
        "from pathlib import Path",
        "",
        "from airflow.sdk import DAG, Param, TaskGroup",
        "from dagspec_runtime.entity import (",
        "    PrepareWorkspaceOperator, ModuleOperator, PhaseGateOperator, PromoteOperator,",
        "    PipelineResultOperator,",
        ")",
        "",
        'PROJECT_ROOT = str((Path(__file__).parent / "..").resolve())',
        "",
        f"with DAG(dag_id={dag_id or entity!r}, schedule=None, catchup=False,",
        "         start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),",
        '         params={"target": Param("dev", type="string", enum=["dev", "test", "prod"]),',
        '                 "dry_run": Param(False, type="boolean"),',
        '                 "keep_workspace": Param(False, type="boolean")},',
        '         default_args={"owner": "team-data"}) as dag:',
        f"    workspace = PrepareWorkspaceOperator(task_id='prepare_workspace', entity={entity!r},",
        f"        phases={list(phases)!r}, base_dir=None, prefix='rdt')",
    ]
    groups = []
    for index, (phase, modules) in enumerate(phases.items()):
        group = f"group_{index}"
        groups.append(group)
        lines.append(f"    with TaskGroup({phase!r}) as {group}:")
        names = []
        for number, (module, command, required, inputs) in enumerate(modules):
            var = f"m_{index}_{number}"
            names.append(var)
            lines.append(
                f"        {var} = ModuleOperator(task_id={module!r}, entity={entity!r}, "
                f"phase={phase!r}, module={module!r}, command={command!r}, "
                f"required={required!r}, inputs={inputs!r}, project_root=PROJECT_ROOT, env={{}}, "
                f"timeout_seconds={timeout_seconds!r}, pool='dagspec_entities')"
            )
        gate_modules = {m: r for m, _, r, _ in modules}
        lines.append(
            f"        gate = PhaseGateOperator(task_id='gate', phase={phase!r}, "
            f"modules={gate_modules!r})"
        )
        lines.append(f"        [{', '.join(names)}] >> gate")
    lines += [
        f"    promote = PromoteOperator(task_id='promote', entity={entity!r}, "
        f"project_root=PROJECT_ROOT, mapping={mapping!r})",
        f"    result = PipelineResultOperator(task_id='pipeline_result', entity={entity!r}, "
        f"phases={ {p: [m[0] for m in ms] for p, ms in phases.items()}!r}, "
        "project_root=PROJECT_ROOT, result_path='models/{entity}/pipeline-result.json')",
        "    workspace >> " + " >> ".join(groups) + " >> promote >> result",
        "",
    ]
    return "\n".join(lines)


@dataclass
class Project:
    """A temporary project root with examples/, a dags/ folder and a workspace base."""

    root: Path
    workspaces: Path

    def write_dag(self, entity: str, name: str | None = None, **kwargs: Any) -> Path:
        path = self.root / "dags" / f"{name or entity.replace('-', '_')}.py"
        path.write_text(render_dag(entity, **kwargs), encoding="utf-8")
        return path

    def snapshot(self) -> dict[str, bytes]:
        """Every file under the project except examples/ and dags/ (what a run may change)."""
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and p.relative_to(self.root).parts[0] not in ("examples", "dags")
        }

    def workspace_dirs(self) -> list[Path]:
        return sorted(p for p in self.workspaces.iterdir() if p.is_dir())

    def read(self, relative: str) -> Any:
        return json.loads((self.root / relative).read_text(encoding="utf-8"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path) -> Project:
    root = tmp_path / "project"
    shutil.copytree(
        REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "dags").mkdir()
    workspaces = tmp_path / "workspaces"
    workspaces.mkdir()
    monkeypatch.setenv("RDT_WORKSPACE_DIR", str(workspaces))
    # dag.test() syncs the "dags-folder" bundle: point it at this project's dags/ so DAGs other
    # engineers generate into generated_dags/ (same dag_ids!) never mix into these runs.
    bundle = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(root / "dags")},
        }
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundle))
    # Airflow imports every .py under the plugins folder as a top-level module named by its
    # stem; our operators come from the installed package, so an empty folder keeps unrelated
    # plugin files (e.g. one named operator.py shadowing the stdlib) out of these runs.
    no_plugins = tmp_path / "no-plugins"
    no_plugins.mkdir()
    monkeypatch.setenv("AIRFLOW__CORE__PLUGINS_FOLDER", str(no_plugins))
    monkeypatch.delenv("DAGSPEC_EXAMPLE_FAIL", raising=False)
    return Project(root, workspaces)


@pytest.fixture
def run_dag() -> Callable[..., tuple[Any, dict[str, str]]]:
    """Load a DAG file the way local_run does and dag.test() it; (dagrun, task states)."""
    from dagspec_runtime.local_run import load_dag, run, task_rows

    def _run(path: Path, conf: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
        dagrun = run(load_dag(path), conf)
        return dagrun, {row["task_id"]: row["state"] for row in task_rows(dagrun)}

    return _run
