"""`dagspec init [DIR]`: a new project that lints and compiles clean, like `dbt init`.

It writes the project config, one example spec of each kind (each with the schema line editors
read), the JSON Schemas they point at, a tiny example module, a Makefile with the two targets
and a pre-commit config. It never overwrites: if any of its files exists, it writes nothing.
"""

from __future__ import annotations

from pathlib import Path

from compiler.project import CONFIG_NAME
from compiler.schemas import KIND_FILES, SHARED_FILES, schema_text

PROJECT = """\
# yaml-language-server: $schema=schemas/project.schema.json
# The project config: which entities run, where, and with which shared settings.
apiVersion: dagspec/v1
kind: Project
metadata:
  name: {name}
  owner: data-platform
  description: A dagspec project.
spec:
  specs_dir: specs
  output_dir: generated_dags
  entities:
    - example-entity      # one DAG per listed entity
  targets: [dev, test, prod]
  defaults:
    owner: data-platform
    start_date: "2024-01-01"
    pool: dagspec_entities
    retries: 0              # a first run fails at once; raise it for flaky sources
    retry_delay_seconds: 10
  pools:
    dagspec_entities:
      slots: 4
      description: Module tasks of every entity DAG
"""

ENTITY = """\
# yaml-language-server: $schema=../schemas/entity.schema.json
apiVersion: dagspec/v1
kind: Entity
metadata:
  name: example-entity
  owner: data-platform
  description: An example data product in two phases.
spec:
  phases:
    - name: pull
      description: Fetch the entity's data.
      modules:
        - name: fetch
          description: Writes pull/data.json.
          command: [python, modules/hello.py]
          outputs: [pull/data.json]
    - name: publish
      description: Check what was fetched.
      modules:
        - name: check
          command: [python, modules/hello.py]
          inputs: {data: pull/data.json}
          outputs: [publish/checked.json]
  promote:
    - {from: pull/data.json, to: "models/{entity}/data.json"}
"""

MANIFEST = """\
# yaml-language-server: $schema=../schemas/manifest.schema.json
apiVersion: dagspec/v1
kind: Manifest
metadata:
  name: example-etl
  owner: data-platform
  description: CSV drops loaded into a table under a data contract.
spec:
  schedule: "@daily"
  catchup: false
  processes:
    - name: orders
      source: {kind: files, format: csv, landing_dir: landing, glob: "orders/*.csv"}
      sink: {table: orders, strategy: merge, merge_key: [order_id]}
      contract:
        enforcement: quarantine
        columns:
          - {name: order_id, type: integer, nullable: false}
          - {name: amount, type: decimal, precision: 18, scale: 2, nullable: false}
"""

REDUCTION = """\
# yaml-language-server: $schema=../schemas/reduction-pipeline.schema.json
apiVersion: dagspec/v1
kind: ReductionPipeline
metadata:
  name: example-reduction
  owner: data-platform
  description: Calibrate each scan on Slurm, then combine all scans.
spec:
  trigger: {type: MANUAL}
  data_grouping: {name: scans, catalogue: raw}
  software:
    calibration: {image: example/calibration, versions: ["1.0.0"]}
  steps:
    - name: calibrate
      software: calibration
      group_by: [scan]
      config:
        command_template: echo calibrate {inputs} > {output_dir}/calibrated.txt
        resources: {cpu: 1, memory_gb: 1, time_hours: 0.1}
    - name: combine
      software: calibration
      depends_on: [calibrate]
      config:
        command_template: echo combine {inputs} > {output_dir}/combined.txt
"""

MODULE = '''\
"""An example module in manifest mode: read the manifest, write outputs, print one envelope."""

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--manifest", required=True, type=Path)
parser.add_argument("--json", action="store_true")
args = parser.parse_args()
started = time.monotonic()
manifest = json.loads(args.manifest.read_text())
workspace = Path(manifest["workspace"])
name = "fetch" if manifest["output_dir"] == "pull" else "check"
out = "pull/data.json" if name == "fetch" else "publish/checked.json"
print(f"{name}: run {manifest['run_id']}, target {manifest['target']}", file=sys.stderr)
(workspace / out).write_text(json.dumps({"entity": manifest["entity_id"], "ok": True}))
print(json.dumps({
    "module": name, "version": "0.1.0", "status": "ok", "entity_id": manifest["entity_id"],
    "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "duration_ms": int((time.monotonic() - started) * 1000), "outputs": {out: "wrote"},
    "errors": [],
}))
'''

MAKEFILE = """\
# The two targets: compile the specs into DAG files, and check that everything is clean.
.PHONY: compile-dags test

compile-dags:
\tdagspec compile

test:
\tdagspec lint
\tdagspec compile --check
"""

PRE_COMMIT = """\
# Lint changed specs and refuse a commit whose generated DAGs are stale.
repos:
  - repo: local
    hooks:
      - id: dagspec-lint
        name: dagspec lint
        entry: dagspec lint
        language: system
        files: ^(specs/.*|dagspec)\\.ya?ml$
      - id: dagspec-compile-check
        name: dagspec compile --check
        entry: dagspec compile --check
        language: system
        pass_filenames: false
        files: ^(specs/|dagspec\\.yaml|generated_dags/)
"""

# .dagspec/ is the compile cache: committed, the pre-commit hooks would rewrite a staged file.
GITIGNORE = ".airflow/\n.dagspec/\nvar/\nmodels/\n__pycache__/\n"


def files(name: str) -> dict[str, str]:
    """Every file `init` writes (project-relative path → text)."""
    out = {
        "dagspec.yaml": PROJECT.format(name=name),
        "specs/example-entity.yaml": ENTITY,
        "specs/example-etl.yaml": MANIFEST,
        "specs/example-reduction.yaml": REDUCTION,
        "modules/hello.py": MODULE,
        "Makefile": MAKEFILE,
        ".pre-commit-config.yaml": PRE_COMMIT,
        ".gitignore": GITIGNORE,
    }
    for file in [*SHARED_FILES, *KIND_FILES.values()]:
        out[f"schemas/{file}"] = schema_text(file)
    return out


def project_name(folder: Path) -> str:
    """A valid metadata name from the folder name."""
    import re

    name = re.sub(r"[^a-z0-9_-]+", "-", folder.resolve().name.lower()).strip("-_")
    return (name or "dagspec-project")[:63]


def enclosing_project(folder: Path) -> Path | None:
    """The project above `folder` (a parent holding dagspec.yaml), where a new project would
    nest inside another one; None when there is none."""
    for parent in folder.resolve().parents:
        if (parent / CONFIG_NAME).is_file():
            return parent
    return None


def init(folder: Path) -> tuple[list[Path], list[Path]]:
    """Write the starter project into `folder`; (written, already there). Writes nothing when
    any file is already there."""
    planned = {folder / rel: text for rel, text in files(project_name(folder)).items()}
    existing = [path for path in planned if path.exists()]
    if existing:
        return [], existing
    for path, text in planned.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (folder / "generated_dags").mkdir(exist_ok=True)
    return list(planned), []
