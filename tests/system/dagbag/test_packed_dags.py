"""Packed output (`output: {pack: N}`) builds the same DAGs as one file per DAG, in a real DagBag.

The comparison is Airflow's own serialized form of each DAG (what the dag-processor stores and
the UI and REST API read), less the file it came from, and every attribute of every task (the
serialized form leaves out operator arguments that are not template fields, such as a gate's
`modules`). The project (tests/pack_project.py)
covers the entity features the template writes differently, next to non-entity DAGs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pack_project import write_project

from compiler import api

pytestmark = pytest.mark.airflow
PACK = 5


def _serialized(folder: Path) -> dict[str, tuple[dict, str]]:
    """dag_id → (serialized DAG without its file and its tasks' attributes, the file) of every
    DAG in `folder` (the project folder above it written as `<project>`)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    found = {}
    for dag_id, dag in bag.dags.items():
        data = DagSerialization.to_dict(dag)
        data["dag"].pop("fileloc")
        data["dag"].pop("relative_fileloc", None)
        data["task_attributes"] = {
            task.task_id: {
                k: _plain(v)
                for k, v in vars(task).items()
                if not k.startswith("_") and k not in ("task_group", "params")
            }
            for task in dag.tasks
        }
        text = json.dumps(data, sort_keys=True, default=str)
        found[dag_id] = (json.loads(text.replace(str(folder.parent), "<project>")), dag.fileloc)
    return found


def _plain(value: Any) -> Any:
    """A task attribute as comparable data: callables and objects by their type and fields."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(map(str, value))
    if callable(value):
        return f"callable {getattr(value, '__qualname__', type(value).__qualname__)}"
    if hasattr(value, "__dict__"):
        return [type(value).__qualname__, _plain(vars(value))]
    return repr(value)


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name, pack in (("one-per-file", None), ("packed", PACK)):
        root = tmp_path_factory.mktemp(name)
        write_project(root, pack)
        assert api.compile_project(root).ok
        out[name] = root
    return out


@pytest.fixture(scope="module")
def layouts(roots: dict[str, Path]) -> dict[str, dict[str, tuple[dict, str]]]:
    return {name: _serialized(root / "generated_dags") for name, root in roots.items()}


def test_packed_dags_serialize_exactly_like_one_file_per_dag(layouts) -> None:
    single, packed = layouts["one-per-file"], layouts["packed"]
    assert sorted(packed) == sorted(single) and len(single) == 29
    differ = [dag_id for dag_id in single if single[dag_id][0] != packed[dag_id][0]]
    assert differ == []


def test_entity_dags_share_pack_files_and_other_kinds_keep_their_own(layouts) -> None:
    files: dict[str, list[str]] = {}
    for dag_id, (_, fileloc) in layouts["packed"].items():
        files.setdefault(os.path.basename(fileloc), []).append(dag_id)
    entities = sorted(d for d, (s, _) in layouts["packed"].items() if "entity" in s["dag"]["tags"])
    assert len(entities) == 26
    packs = {name: sorted(ids) for name, ids in files.items() if name.startswith("_entities-")}
    assert sorted(packs) == [f"_entities-00{i}.py" for i in range(1, 7)]
    assert [len(ids) for _, ids in sorted(packs.items())] == [5, 5, 5, 5, 5, 1]
    assert [d for _, ids in sorted(packs.items()) for d in ids] == entities  # sorted, chunked
    assert files["chai-ngc253.py"] == ["chai-ngc253"]


def test_each_packed_dag_shows_its_own_docs_params_and_file(layouts) -> None:
    packed = layouts["packed"]
    docs = {}
    for dag_id in ("ent-002", "ent-003", "waste-tracking"):
        dag = packed[dag_id][0]["dag"]
        docs[dag_id] = dag["doc_md"]
        assert dag["doc_md"].startswith(f"# {dag_id}\n")
        spec = "specs/waste-tracking.yaml" if dag_id == "waste-tracking" else f"specs/{dag_id}.yaml"
        assert f"`{spec}`" in dag["doc_md"]
    assert len(set(docs.values())) == 3
    params = {d: set(packed[d][0]["dag"]["params"][i][0] for i in range(3)) for d in docs}
    assert all({"target", "dry_run", "keep_workspace"} <= p for p in params.values())
    declared = [d for d in packed if len(packed[d][0]["dag"].get("params", [])) == 5]
    assert declared and all(d.startswith("ent-") for d in declared)  # `reason`, `limit`
    assert packed["ent-002"][1] == packed["ent-003"][1]
    assert os.path.basename(packed["ent-003"][1]) == "_entities-001.py"


def test_dagspec_run_airflow_finds_a_packed_dag_in_its_pack(roots: dict[str, Path]) -> None:
    """`dagspec run --airflow` names the file from the layout, and the runner loads the one DAG
    it asks for from that file."""
    from dagspec_runtime.local_run import load_dag

    from compiler.analysis import analyse
    from compiler.pack import layout
    from compiler.project import load_project

    project = load_project(roots["packed"])
    files = layout(analyse(project, use_cache=False).targets, project.config)
    assert files["ent-007"] == "_entities-002.py" and files["chai-ngc253"] == "chai-ngc253.py"
    dag = load_dag(roots["packed"] / "generated_dags" / files["ent-007"], "ent-007")
    assert dag.dag_id == "ent-007" and dag.get_task("build.make").entity == "ent-007"
