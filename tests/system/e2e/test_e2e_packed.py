"""Packed DAGs as a running Airflow serves them: a stack of its own (scripts/airflow-up.sh, its
dag-processor and api-server) over a packed project, read through REST v2 and in the UI in
headless Chromium. Each packed DAG must come with its own docs, params, tasks and file (the
pack), exactly as the same DAG compiled one file per DAG has them.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_rest import Api, free_port, stack_module, start_stack
from pack_project import write_project

from compiler import api

from .conftest import Stack
from .test_e2e_ui import page, sign_in  # noqa: F401 - page: the headless Chromium fixture

pytestmark = [pytest.mark.airflow, pytest.mark.e2e]
PACK = 5
ENTITIES = 12
UP_TIMEOUT = 300
PARSE_TIMEOUT = 300


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, pack in (("one-per-file", None), ("packed", PACK)):
        root = tmp_path_factory.mktemp(name)
        write_project(root, pack, count=ENTITIES)
        assert api.compile_project(root).ok
        out[name] = root
    return out


@pytest.fixture(scope="module")
def expected(projects: dict[str, Path]) -> dict[str, Any]:
    """The one-file-per-DAG DAGs as the dag-processor stores them (serialized and read back):
    what REST must show for each."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(projects["one-per-file"] / "generated_dags"))
    assert bag.import_errors == {}
    return {
        dag_id: DagSerialization.from_dict(DagSerialization.to_dict(dag))
        for dag_id, dag in bag.dags.items()
    }


@pytest.fixture(scope="module")
def packed_stack(
    projects: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack serving the packed project's DAGs; always stopped by airflow-down.sh."""
    home = tmp_path_factory.mktemp("packed-home")
    port = free_port()
    env = {
        **os.environ,
        "DAGSPEC_AIRFLOW_HOME": str(home),
        "DAGSPEC_AIRFLOW_PORT": str(port),
        "DAGSPEC_PROJECT_DIR": str(projects["packed"]),
        "DAGSPEC_PYTHON": sys.executable,
        "DAGSPEC_AIRFLOW_PAUSED": "1",  # served, not run (cron and @continuous entities)
        "RDT_WORKSPACE_DIR": str(home / "workspaces"),
        "AIRFLOW_CONN_DAGSPEC_META": json.dumps(
            {"conn_type": "sqlite", "extra": {"sqlalchemy_url": f"sqlite:///{home / 'm.sqlite'}"}}
        ),
    }
    record = start_stack(env, home, UP_TIMEOUT)
    password = stack_module.admin_password(home) or ""
    stack = Stack(f"http://127.0.0.1:{port}", home, env, record, password)
    try:
        yield stack
    finally:
        stack.stop()
        assert not stack.alive(), f"processes left after airflow-down.sh: {stack.alive()}"


@pytest.fixture(scope="module")
def packed_api(packed_stack: Stack, expected: dict[str, Any]) -> Api:
    """REST v2 of the packed stack, once every DAG is parsed."""
    client = Api(packed_stack.url, packed_stack.password)
    listed = client.wait_parsed(set(expected), PARSE_TIMEOUT)
    assert set(listed) == set(expected)
    packed = [d for d in listed.values() if Path(d["fileloc"]).name.startswith("_entities-")]
    assert len(packed) == ENTITIES + 2 and all(d["is_paused"] for d in packed)  # not run
    return client


def _params(params: dict[str, Any]) -> dict[str, Any]:
    """REST's params ({name: {value, schema, description, ...}}) as comparable data."""
    return {k: [p["value"], p["schema"], p.get("description")] for k, p in params.items()}


def test_each_packed_dag_is_served_with_its_own_docs_params_tasks_and_file(
    packed_api: Api, projects: dict[str, Path], expected: dict[str, Any]
) -> None:
    output = projects["packed"] / "generated_dags"
    packs = sorted(p.name for p in output.glob("_entities-*.py"))
    assert len(packs) == -(-(ENTITIES + 2) // PACK)  # the example's two entities are packed too
    served_files: dict[str, set[str]] = {}
    for dag_id, dag in sorted(expected.items()):
        quoted = urllib.parse.quote(dag_id)
        details = packed_api.get(f"/api/v2/dags/{quoted}/details")
        assert details["doc_md"] == dag.doc_md.strip(), dag_id  # REST trims the ends
        assert details["doc_md"].startswith(f"# {dag_id}\n")
        want = {
            k: [p.value, p.schema, p.description]
            for k, p in ((k, dag.params.get_param(k)) for k in dag.params)
        }
        assert _params(details["params"]) == json.loads(json.dumps(want)), dag_id
        tasks = packed_api.get(f"/api/v2/dags/{quoted}/tasks")["tasks"]
        assert sorted(t["task_id"] for t in tasks) == sorted(dag.task_ids), dag_id
        file = Path(details["fileloc"])
        assert file.parent == output, details["fileloc"]
        served_files.setdefault(file.name, set()).add(dag_id)
        source = packed_api.get(f"/api/v2/dagSources/{quoted}")["content"]
        assert source == file.read_text(encoding="utf-8"), dag_id  # the UI's Code tab
    entity_files = {name: ids for name, ids in served_files.items() if name.startswith("_")}
    assert sorted(entity_files) == packs
    assert all(len(ids) <= PACK for ids in entity_files.values())
    assert sum(len(ids) for ids in entity_files.values()) == ENTITIES + 2
    assert all(len(ids) == 1 for name, ids in served_files.items() if name not in packs)


def test_the_ui_shows_two_dags_of_one_pack_each_with_its_own_docs(
    page: object,  # noqa: F811
    packed_stack: Stack,
    packed_api: Api,
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    first, second = "ent-000", "ent-001"
    files = {
        Path(packed_api.get(f"/api/v2/dags/{d}/details")["fileloc"]).name for d in (first, second)
    }
    assert len(files) == 1  # pack-mates
    assert sign_in(page, packed_stack, first)["dag_id"] == first
    for dag_id in (first, second):
        page.goto(f"{packed_stack.url}/dags/{dag_id}")
        page.get_by_role("button", name="Dag Docs").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_role("heading", name=dag_id, exact=True)).to_be_visible()
        expect(dialog.get_by_text(f"specs/{dag_id}.yaml", exact=False).first).to_be_attached()
