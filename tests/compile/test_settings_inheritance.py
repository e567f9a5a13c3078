"""Task settings inherit project → spec → phase/process/step → module; the nearest level wins.

Checked on the tasks of the DAGs as a real Airflow 3.3 DagBag loads them from compiled files.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from compiler import api

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.airflow

PROJECT = """\
apiVersion: dagspec/v1
kind: Project
metadata: {name: settings}
spec:
  entities: [ent]
  defaults:
    owner: project-owner
    pool: p_project
    retries: 1
    retry_delay_seconds: 11
    retry_exponential_backoff: true
    execution_timeout_seconds: 600
    priority_weight: 1
    queue: q_project
  pools:
    p_project: {slots: 4}
    p_spec: {slots: 4}
    p_phase: {slots: 4}
    p_module: {slots: 4}
"""

ENTITY = """\
apiVersion: dagspec/v1
kind: Entity
metadata: {name: ent, owner: meta-owner}
spec:
  retries: 2
  queue: q_spec
  phases:
    - name: one
      modules:
        - {name: plain, command: [python, m.py]}
        - name: special
          command: [python, m.py]
          pool: p_module
          retries: 5
          execution_timeout_seconds: 30
          owner: module-owner
    - name: two
      pool: p_phase
      retry_delay_seconds: 22
      priority_weight: 7
      modules:
        - {name: inherits-phase, command: [python, m.py]}
        - {name: beats-phase, command: [python, m.py], priority_weight: 9, queue: q_module}
"""

MANIFEST = """\
apiVersion: dagspec/v1
kind: Manifest
metadata: {name: etl}
spec:
  retries: 3
  pool: p_spec
  processes:
    - name: keeps-spec
      source: {kind: files, format: csv, landing_dir: landing, glob: "a/*.csv"}
      sink: {table: a}
      contract: {columns: [{name: x, type: integer}]}
    - name: own
      retries: 4
      retry_delay_seconds: 44
      queue: q_process
      source: {kind: files, format: csv, landing_dir: landing, glob: "b/*.csv"}
      sink: {table: b}
      contract: {columns: [{name: x, type: integer}]}
"""

REDUCTION = """\
apiVersion: dagspec/v1
kind: ReductionPipeline
metadata: {name: red, owner: red-owner}
spec:
  priority: 5
  execution_timeout_seconds: 120
  data_grouping: {name: g, catalogue: raw}
  software: {sw: {image: img, versions: ["1"]}}
  steps:
    - name: first
      software: sw
      max_retries: 2
      config: {command_template: "true"}
    - name: second
      software: sw
      depends_on: [first]
      retries: 6
      priority_weight: 8
      pool: p_module
      execution_timeout_seconds: 60
      config: {command_template: "true"}
"""


@pytest.fixture(scope="module")
def dags(tmp_path_factory: pytest.TempPathFactory):  # Airflow DAGs by id
    from airflow.dag_processing.dagbag import DagBag

    root = tmp_path_factory.mktemp("settings")
    (root / "specs").mkdir()
    (root / "dagspec.yaml").write_text(PROJECT)
    for name, text in (("ent", ENTITY), ("etl", MANIFEST), ("red", REDUCTION)):
        (root / "specs" / f"{name}.yaml").write_text(text)
    result = api.compile_project(root)
    assert not [f for f in result.findings if f.severity.name == "ERROR"], result.findings
    bag = DagBag(dag_folder=str(root / "generated_dags"))
    assert bag.import_errors == {}
    return bag.dags


def test_project_defaults_reach_tasks_no_level_overrides(dags) -> None:
    task = dags["ent"].get_task("one.plain")
    assert task.pool == "p_project"
    assert task.retry_delay == timedelta(seconds=11)
    assert task.retry_exponential_backoff == 2
    assert task.execution_timeout == timedelta(seconds=600)
    assert task.priority_weight == 1


def test_spec_level_beats_project_and_metadata_owner_is_the_spec_owner(dags) -> None:
    task = dags["ent"].get_task("one.plain")
    assert task.retries == 2 and task.queue == "q_spec" and task.owner == "meta-owner"
    # Bookkeeping tasks take the DAG-level settings, but never the work pool.
    gate = dags["ent"].get_task("one.gate")
    assert gate.retries == 2 and gate.queue == "q_spec" and gate.pool == "default_pool"


def test_phase_level_beats_spec_for_its_modules(dags) -> None:
    task = dags["ent"].get_task("two.inherits-phase")
    assert task.pool == "p_phase"
    assert task.retry_delay == timedelta(seconds=22)
    assert task.priority_weight == 7
    assert task.retries == 2  # not stated on the phase: the spec's


def test_module_level_beats_phase_spec_and_project(dags) -> None:
    special = dags["ent"].get_task("one.special")
    assert special.pool == "p_module" and special.retries == 5 and special.owner == "module-owner"
    assert special.execution_timeout == timedelta(seconds=30)
    beats = dags["ent"].get_task("two.beats-phase")
    assert beats.priority_weight == 9 and beats.queue == "q_module" and beats.pool == "p_phase"


def test_manifest_process_level_beats_spec(dags) -> None:
    keeps = dags["etl.keeps-spec"].get_task("stage")
    assert keeps.retries == 3 and keeps.pool == "p_spec" and keeps.queue == "q_project"
    assert keeps.retry_delay == timedelta(seconds=11)
    own = dags["etl.own"].get_task("stage")
    assert own.retries == 4 and own.queue == "q_process" and own.pool == "p_spec"
    assert own.retry_delay == timedelta(seconds=44)


def test_reduction_step_level_beats_spec_older_names_still_count(dags) -> None:
    dag = dags["red"]
    first = next(t for t in dag.tasks if t.task_id.endswith(".first"))
    second = next(t for t in dag.tasks if t.task_id.endswith(".second"))
    assert first.retries == 2 and first.priority_weight == 5  # max_retries, spec priority
    assert first.execution_timeout == timedelta(seconds=120) and first.pool == "p_project"
    assert second.retries == 6 and second.priority_weight == 8 and second.pool == "p_module"
    assert second.execution_timeout == timedelta(seconds=60)
    assert first.owner == "red-owner" and first.queue == "q_project"


def test_render_shows_the_compiled_values(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "dagspec.yaml").write_text(PROJECT)
    spec = tmp_path / "specs" / "ent.yaml"
    spec.write_text(ENTITY)
    text, findings = api.render_spec(tmp_path, spec)
    assert text is not None, findings
    assert '"retries": 2' in text and '"queue": "q_spec"' in text
    assert "retry_delay=timedelta(seconds=22)" in text and 'pool="p_module"' in text


def test_an_undeclared_pool_at_any_level_is_reported_where_it_is(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "dagspec.yaml").write_text(PROJECT)
    (tmp_path / "specs" / "ent.yaml").write_text(ENTITY.replace("pool: p_module", "pool: p_modul"))
    findings = api.lint(tmp_path)
    bad = [f for f in findings if f.code == "DS202"]
    assert len(bad) == 1 and bad[0].path == "spec.phases[0].modules[1].pool", findings
    assert "p_module" in (bad[0].suggestion or "")
