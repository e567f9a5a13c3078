"""The local runner: exit codes 0 / 1 / 2 and the printed report."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from dagspec_runtime.local_run import main

pytestmark = pytest.mark.airflow

ONE_PHASE = {"pull": [("model-pull", ["python", "examples/modules/pull.py"], True, {})]}


def test_cli_runs_a_dag_and_prints_states_and_pipeline_result(project):
    dag_file = project.write_dag("organization-site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagspec_runtime.local_run",
            str(dag_file),
            "--conf",
            '{"target": "test"}',
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "state success" in out
    assert out.index("prepare_workspace") < out.index("pull.model-pull") < out.index("promote")
    assert "entity organization-site  status ok  target test" in out
    assert "ddl-check" in out and "promoted yes" in out


def test_failed_run_exits_1(project, monkeypatch, capsys):
    monkeypatch.setenv("DAGSPEC_EXAMPLE_FAIL", "model-pull")
    dag_file = project.write_dag("waste-tracking", phases=ONE_PHASE)
    assert main([str(dag_file)]) == 1
    out = capsys.readouterr().out
    assert "state failed" in out
    assert "status error" in out


def test_invalid_param_exits_2_before_anything_runs(project, capsys):
    dag_file = project.write_dag("waste-tracking", phases=ONE_PHASE)
    assert main([str(dag_file), "--conf", '{"target": "staging"}']) == 2
    assert "invalid params" in capsys.readouterr().err
    assert project.workspace_dirs() == []


def test_import_error_exits_2(project, capsys):
    broken = project.root / "dags" / "broken.py"
    broken.write_text("from airflow.sdk import DAG\nraise RuntimeError('broken dag file')\n")
    assert main([str(broken)]) == 2
    assert "broken dag file" in capsys.readouterr().err


def test_bad_arguments_exit_2(project, capsys):
    dag_file = project.write_dag("waste-tracking", phases=ONE_PHASE)
    assert main([str(dag_file), "--conf", "[1]"]) == 2
    assert main([str(dag_file), "--dag-id", "nope"]) == 2
    assert main([str(project.root / "missing.py")]) == 2
    assert "no DAG 'nope'" in capsys.readouterr().err
