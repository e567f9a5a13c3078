"""Seed-000 run identity through a real Airflow run (dag.test): one UUIDv7 per run, shared by
the workspace name, every module manifest, the envelopes' context and pipeline-result.json, with
Airflow's run id beside it; every module's stderr in the workspace's pipeline-stderr.log."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from dagspec_runtime.entity.run_identity import STDERR_LOG, StderrLog, new_run_id

pytestmark = pytest.mark.airflow

ENTITY = "waste-tracking"


def test_run_ids_are_uuid7_and_ordered() -> None:
    first, second = new_run_id(), new_run_id()
    assert uuid.UUID(first).version == 7 and uuid.UUID(second).version == 7
    assert first < second  # time-ordered: workspaces list in run order


def test_one_run_id_everywhere_and_stderr_prefixed_by_module(project, run_dag) -> None:
    dagrun, states = run_dag(project.write_dag(ENTITY), {"keep_workspace": True})
    assert str(dagrun.state) == "success", states
    [workspace] = project.workspace_dirs()
    result = json.loads((workspace / "pipeline-result.json").read_text())
    run_id = result["run_id"]
    assert uuid.UUID(run_id).version == 7
    assert result["airflow_run_id"] == dagrun.run_id and dagrun.run_id != run_id
    assert workspace.name == f"rdt-{ENTITY}-{run_id}"
    assert project.read(f"models/{ENTITY}/pipeline-result.json")["run_id"] == run_id

    manifests = sorted(workspace.glob("*/*.manifest.json"))
    envelopes = sorted(workspace.glob("*/*.result.json"))
    assert len(manifests) == len(envelopes) == 8  # every module of the eight
    assert {json.loads(p.read_text())["run_id"] for p in manifests} == {run_id}
    contexts = [json.loads(p.read_text())["context"] for p in envelopes]
    assert {c["run_id"] for c in contexts} == {run_id}
    assert {c["airflow_run_id"] for c in contexts} == {dagrun.run_id}

    lines = (workspace / STDERR_LOG).read_text().splitlines()
    modules = {line.split("]", 1)[0].lstrip("[") for line in lines}
    assert modules == {p.name.removesuffix(".manifest.json") for p in manifests}
    assert f"[ddl-check] ddl-check: entity {ENTITY}, target dev, dry_run False" in lines
    assert all(line.startswith("[") for line in lines)


def test_parallel_writers_never_interleave_lines(tmp_path: Path) -> None:
    """Modules of one phase write at once; each line is one O_APPEND write."""
    import threading

    def write(name: str) -> None:
        with StderrLog(tmp_path, name) as log:
            for i in range(2000):
                log.write(f"{name} line {i} " + "x" * 200)

    threads = [threading.Thread(target=write, args=(f"m{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (tmp_path / STDERR_LOG).read_text().splitlines()
    assert len(lines) == 8000
    for line in lines:
        prefix, rest = line.split("] ", 1)
        assert rest.startswith(prefix[1:] + " line ") and rest.endswith("x" * 200)
