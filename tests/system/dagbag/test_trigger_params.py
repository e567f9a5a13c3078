"""Which trigger params are required: only those declared without a default.

Airflow's trigger form marks a field required unless its JSON-Schema type allows null (the same
rule tests/system/e2e/test_e2e_docs.py checks
over a running Airflow's REST API for every generated DAG).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from compiler import api

pytestmark = pytest.mark.airflow

PROJECT = "apiVersion: dagspec/v1\nkind: Project\nmetadata: {name: p}\nspec:\n  entities: [ent]\n"
ENTITY = """\
apiVersion: dagspec/v1
kind: Entity
metadata: {name: ent}
spec:
  params:
    reason: {type: string, title: Reason}
    limit: {type: integer, default: 5, minimum: 1}
  phases:
    - name: one
      modules: [{name: m, command: [python, m.py]}]
"""


def required(schema: dict) -> bool:
    kind = schema.get("type")
    return bool(kind) and (not isinstance(kind, list) or "null" not in kind)


def test_only_params_without_default_are_required(tmp_path: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import ParamValidationError

    (tmp_path / "specs").mkdir()
    (tmp_path / "dagspec.yaml").write_text(PROJECT)
    (tmp_path / "specs" / "ent.yaml").write_text(ENTITY)
    result = api.compile_project(tmp_path)
    assert result.ok, result.findings
    bag = DagBag(dag_folder=str(tmp_path / "generated_dags"))
    assert bag.import_errors == {}
    params = bag.dags["ent"].params
    flags = {name: required(params.get_param(name).schema) for name in params}
    assert flags == {
        "target": False,
        "dry_run": False,
        "keep_workspace": False,
        "reason": True,
        "limit": False,
    }
    with pytest.raises(ParamValidationError, match="reason"):
        copy.deepcopy(params).validate()
    given = copy.deepcopy(params)
    given["reason"] = "backfill"
    assert given.validate()["limit"] == 5
