"""A module writes only under its phase's output folder: a later phase rewriting an earlier
phase's output, or a module writing straight into `models/ENTITY/`, fails that module with a
message naming the file (and nothing of it is promoted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

MODULE = """\
import json, os, sys, time
manifest = json.load(open(sys.argv[sys.argv.index("--manifest") + 1]))
ws, me = manifest["workspace"], os.environ["DAGSPEC_MODULE"]
def put(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(text)
if me == "first":
    put(os.path.join(ws, "first", "a.json"), '{"from": "first"}')
elif me == "rewriter":
    put(os.path.join(ws, "first", "a.json"), '{"from": "rewriter"}')
elif me == "squatter":
    put(os.path.join("models", manifest["entity_id"], "model.json"), "{}")
put(os.path.join(ws, manifest["output_dir"], me + ".json"), "{}")
print(json.dumps({"module": me, "version": "1", "status": "ok",
    "entity_id": manifest["entity_id"], "timestamp": "2026-01-01T00:00:00Z",
    "duration_ms": 1, "outputs": {}, "errors": []}))
"""
SPEC = """\
apiVersion: dagspec/v1
kind: Entity
metadata: {name: NAME, owner: team, description: A module that writes where it should not.}
spec:
  phases:
    - name: first
      modules:
        - {name: first, command: python modules/conf.py, outputs: [first/a.json]}
    - name: second
      modules:
        - {name: SECOND, command: python modules/conf.py, outputs: [second/SECOND.json]}
  promote:
    - {from: first/a.json, to: "models/{entity}/a.json"}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("confined")
    config = (Path(__file__).resolve().parents[2] / "dagspec.yaml").read_text()
    start, end = config.index("  entities:"), config.index("  targets:")
    entities = "  entities:\n    - rewrites\n    - squats\n"
    (root / "dagspec.yaml").write_text(config[:start] + entities + config[end:])
    (root / "specs").mkdir()
    for name, second in (("rewrites", "rewriter"), ("squats", "squatter")):
        spec = SPEC.replace("NAME", name).replace("SECOND", second)
        (root / "specs" / f"{name}.yaml").write_text(spec)
    (root / "modules").mkdir()
    (root / "modules" / "conf.py").write_text(MODULE)
    return root


@pytest.mark.parametrize(
    ("entity", "module", "named"),
    [
        ("rewrites", "rewriter", "workspace/first/a.json"),
        ("squats", "squatter", "models/squats/model.json"),
    ],
)
def test_a_module_writing_outside_its_phase_folder_fails_naming_the_file(
    project: Path, entity: str, module: str, named: str
) -> None:
    env = {**os.environ, "RDT_WORKSPACE_DIR": str(project / "ws")}
    done = subprocess.run(
        [sys.executable, "-m", "dagspec.cli", "--project", str(project), "run", entity]
        + ["--format", "json"],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    failed = next(t for t in report["tasks"] if t["task_id"].endswith(module))
    assert failed["state"] == "failed"
    assert f"wrote outside its phase's output folder second/: {named}" in failed["error"]
    assert report["pipeline_result"]["promoted"] is False
    assert not (project / "models" / entity / "a.json").exists()
