"""Entity DAG runs through real Airflow (dag.test), with the example modules doing real work."""

from __future__ import annotations

import json

import pytest
import yaml

pytestmark = pytest.mark.airflow

ENTITY = "waste-tracking"
ARTIFACTS = {
    "models/waste-tracking/model.json",
    "models/waste-tracking/governance.json",
    "models/waste-tracking/datacontract.yaml",
    "snowflake/ddl/waste-tracking.sql",
    "dbt/models/bronze/waste-tracking.sql",
    "registry/waste-tracking.json",
    "docs/entities/waste-tracking.md",
}
LATER_PHASES = ("compile", "deploy", "register", "support")


def phase(result: dict, name: str) -> dict:
    return next(p for p in result["phases"] if p["name"] == name)


def module(result: dict, phase_name: str, name: str) -> dict:
    return next(m for m in phase(result, phase_name)["modules"] if m["name"] == name)


def test_ok_run_promotes_artifacts_and_cleans_up(project, run_dag):
    dag_file = project.write_dag(ENTITY)
    dagrun, states = run_dag(dag_file)

    assert str(dagrun.state) == "success"
    assert set(states.values()) == {"success"}, states
    files = project.snapshot()
    assert ARTIFACTS | {
        "models/waste-tracking/promote-report.json",
        "models/waste-tracking/pipeline-result.json",
    } == set(files)

    model = project.read("models/waste-tracking/model.json")
    assert model["entity"] == ENTITY and model["primary_key"] == ["waste_record_id"]
    assert [f["name"] for f in model["fields"]][:3] == [
        "waste_record_id",
        "site_id",
        "waste_category",
    ]
    assert model["source"]["rows"] == 5
    ddl = files["snowflake/ddl/waste-tracking.sql"].decode()
    assert "CREATE TABLE IF NOT EXISTS bronze.waste_tracking (" in ddl
    assert "waste_record_id NUMBER(38,0) NOT NULL" in ddl
    assert "PRIMARY KEY (waste_record_id)" in ddl
    assert (
        "source('raw', 'waste_tracking')" in files["dbt/models/bronze/waste-tracking.sql"].decode()
    )
    contract = yaml.safe_load(files["models/waste-tracking/datacontract.yaml"])
    fields = contract["models"]["waste_tracking"]["fields"]
    assert fields["waste_record_id"]["primaryKey"] is True
    assert fields["contact_email"]["pii"] is True
    assert project.read("models/waste-tracking/governance.json")["classification"] == "confidential"
    assert (
        "| waste_record_id | integer | yes |" in files["docs/entities/waste-tracking.md"].decode()
    )

    report = project.read("models/waste-tracking/promote-report.json")
    assert report["status"] == "promoted"
    assert {row["action"] for row in report["promoted"]} == {"wrote"}
    assert {row["destination"] for row in report["promoted"]} == ARTIFACTS
    assert report["skipped"] == ["compile/artifacts/openapi.yaml"]

    result = project.read("models/waste-tracking/pipeline-result.json")
    assert result["status"] == "ok" and result["promoted"] is True
    assert result["target"] == "dev" and result["dry_run"] is False
    assert [p["name"] for p in result["phases"]] == [
        "pull",
        "govern",
        "compile",
        "deploy",
        "register",
        "support",
    ]
    assert all(p["status"] == "ok" for p in result["phases"])
    assert isinstance(module(result, "deploy", "ddl-check")["duration_ms"], int)
    assert project.workspace_dirs() == []  # removed: keep_workspace is false


def test_runs_get_their_own_workspace_and_unchanged_files_stay_unchanged(project, run_dag):
    dag_file = project.write_dag(ENTITY)
    run_dag(dag_file, {"keep_workspace": True})
    run_dag(dag_file, {"keep_workspace": True, "target": "test"})
    other = project.write_dag("organization-site")
    dagrun, _ = run_dag(other, {"keep_workspace": True})
    assert str(dagrun.state) == "success"

    workspaces = project.workspace_dirs()
    assert len(workspaces) == 3
    names = sorted(w.name for w in workspaces)
    assert sum(n.startswith("rdt-waste-tracking-") for n in names) == 2
    assert sum(n.startswith("rdt-organization-site-") for n in names) == 1
    for workspace in workspaces:
        assert {"pull", "govern", "compile", "deploy", "register", "support"} <= {
            p.name for p in workspace.iterdir() if p.is_dir()
        }
    second = project.read("models/waste-tracking/promote-report.json")
    assert {row["action"] for row in second["promoted"]} == {"unchanged"}
    assert project.read("models/waste-tracking/pipeline-result.json")["target"] == "test"
    site = project.read("models/organization-site/model.json")
    assert site["source"]["format"] == "csv" and site["primary_key"] == ["site_id"]


def test_optional_module_failure_is_a_warning_and_still_promotes(project, run_dag, monkeypatch):
    monkeypatch.setenv("DAGSPEC_EXAMPLE_FAIL", "profile")
    dagrun, states = run_dag(project.write_dag(ENTITY))

    assert str(dagrun.state) == "success"
    assert states["govern.profile"] == "failed"  # red in the UI, but optional
    assert states["promote"] == "success"
    result = project.read("models/waste-tracking/pipeline-result.json")
    assert result["status"] == "warning" and result["promoted"] is True
    assert phase(result, "govern")["status"] == "warning"
    assert module(result, "govern", "profile")["status"] == "error"
    assert set(project.snapshot()) >= ARTIFACTS


def test_all_required_failing_stops_the_run_and_changes_nothing(project, run_dag, monkeypatch):
    old = project.root / "models" / ENTITY / "model.json"
    old.parent.mkdir(parents=True)
    old.write_text('{"old": true}\n')
    before = project.snapshot()
    monkeypatch.setenv("DAGSPEC_EXAMPLE_FAIL", "governance")

    dagrun, states = run_dag(project.write_dag(ENTITY), {"keep_workspace": True})

    assert str(dagrun.state) == "failed"
    assert states["govern.gate"] == "failed"
    for name in LATER_PHASES:
        assert states[f"{name}.gate"] == "skipped"
    assert states["compile.bronze-sql"] == "upstream_failed"
    assert states["deploy.ddl-check"] == "skipped"
    assert states["promote"] == "skipped"
    assert states["pipeline_result"] == "failed"

    after = project.snapshot()
    result = json.loads(after.pop("models/waste-tracking/pipeline-result.json"))
    assert after == before  # nothing promoted, old files untouched
    assert result["status"] == "error" and result["promoted"] is False
    assert phase(result, "govern")["status"] == "error"
    assert [phase(result, n)["status"] for n in LATER_PHASES] == ["not_run"] * 4
    (workspace,) = project.workspace_dirs()
    for name in LATER_PHASES:  # later modules never ran: no manifests, no results
        assert not list((workspace / name).glob("*.result.json"))
        assert not list((workspace / name).glob("*.manifest.json"))
    report = json.loads((workspace / "promote-report.json").read_text())
    assert report["status"] == "skipped" and report["reason"] == "run status is error"


def test_some_required_failing_is_partial_continues_and_promotes_nothing(
    project, run_dag, monkeypatch
):
    monkeypatch.setenv("DAGSPEC_EXAMPLE_FAIL", "datacontract")
    dagrun, states = run_dag(project.write_dag(ENTITY))

    assert str(dagrun.state) == "failed"
    assert states["compile.gate"] == "success"  # partial: later phases still run
    assert states["deploy.ddl-check"] == "success"
    assert states["support.docs"] == "success"
    assert states["promote"] == "skipped"
    result = project.read("models/waste-tracking/pipeline-result.json")
    assert result["status"] == "partial" and result["promoted"] is False
    assert phase(result, "compile")["status"] == "partial"
    assert phase(result, "deploy")["status"] == "ok"
    assert set(project.snapshot()) == {"models/waste-tracking/pipeline-result.json"}


def test_dry_run_promotes_nothing_and_tells_modules(project, run_dag):
    dagrun, states = run_dag(
        project.write_dag(ENTITY), {"dry_run": True, "keep_workspace": True, "target": "prod"}
    )

    assert str(dagrun.state) == "success"
    assert states["promote"] == "skipped"
    assert project.snapshot() == {}  # not even pipeline-result.json: no side effects
    (workspace,) = project.workspace_dirs()
    manifests = list(workspace.glob("*/*.manifest.json"))
    assert len(manifests) == 8
    for path in manifests:
        manifest = json.loads(path.read_text())
        assert manifest["dry_run"] is True and manifest["target"] == "prod"
    assert not (workspace / "deploy" / "bronze.sqlite").exists()  # dry run: in-memory only
    result = json.loads((workspace / "pipeline-result.json").read_text())
    assert result["status"] == "ok" and result["dry_run"] is True and result["promoted"] is False


def test_module_errors_name_the_module(project, run_dag):
    phases = {
        "pull": [
            ("model-pull", ["python", "examples/modules/pull.py"], True, {}),
            ("talker", ["python", "-c", "print('hello, not json')"], True, {}),
            (
                "crasher",
                ["python", "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"],
                True,
                {},
            ),
            ("sleeper", ["python", "-c", "import time; time.sleep(30)"], True, {}),
        ]
    }
    dag_file = project.write_dag(ENTITY, phases=phases, timeout_seconds=2)
    dagrun, states = run_dag(dag_file, {"keep_workspace": True})

    assert str(dagrun.state) == "failed"
    assert states["pull.model-pull"] == "success"
    for name in ("talker", "crasher", "sleeper"):
        assert states[f"pull.{name}"] == "failed"
    (workspace,) = project.workspace_dirs()
    errors = {
        name: json.loads((workspace / "pull" / f"{name}.result.json").read_text())["errors"][0]
        for name in ("talker", "crasher", "sleeper")
    }
    assert "module 'talker' printed a malformed result envelope" in errors["talker"]
    assert "module 'crasher' exited with code 3" in errors["crasher"]
    assert "boom" in errors["crasher"]  # stderr tail helps the reader
    assert "module 'sleeper' timed out after 2 s" in errors["sleeper"]
    assert (workspace / "pull" / "crasher.stderr.log").read_text() == "boom\n"
    result = json.loads((workspace / "pipeline-result.json").read_text())
    assert phase(result, "pull")["status"] == "partial"
    assert result["status"] == "partial"


def test_unsafe_promotion_mapping_fails_and_writes_nothing(project, run_dag):
    phases = {"pull": [("model-pull", ["python", "examples/modules/pull.py"], True, {})]}
    mapping = {
        "pull/model.json": "models/{entity}/model.json",
        "pull/records.json": "../escaped/records.json",
    }
    dag_file = project.write_dag(ENTITY, phases=phases, mapping=mapping)
    dagrun, states = run_dag(dag_file)

    assert str(dagrun.state) == "failed"
    assert states["promote"] == "failed"
    assert not (project.root.parent / "escaped").exists()
    result = project.read("models/waste-tracking/pipeline-result.json")
    assert result["status"] == "error" and result["promoted"] is False
    assert "must not contain '..'" in result["promotion"]["reason"]
    assert set(project.snapshot()) == {"models/waste-tracking/pipeline-result.json"}
