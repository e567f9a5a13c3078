"""An `sbatch` refusal is one line in the report and on stderr, not a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slurm
SPEC = """\
apiVersion: dagspec/v1
kind: ReductionPipeline
metadata: {name: greedy, owner: team-reduction, description: A step asking too much.}
spec:
  trigger: {type: MANUAL}
  data_grouping:
    name: ngc253-co43
    catalogue: examples/reduction/raw
    filter_rules: {source: NGC253, line: [CO43]}
  products_root: var/reduction
  software:
    holder: {image: ghcr.io/example/holder, versions: ["1.0.0"]}
  steps:
    - name: greedy
      software: holder
      group_by: [executed_obs_unit]
      config:
        command_template: echo {sub_group_key}
        resources: {cpu: 1, memory_gb: 900, time_hours: 0.1}
"""


def test_an_sbatch_refusal_is_one_line(tmp_path: Path, slurm_up: object) -> None:
    config = (ROOT / "dagspec.yaml").read_text()
    start, end = config.index("  entities:"), config.index("  targets:")
    (tmp_path / "dagspec.yaml").write_text(config[:start] + config[end:])
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "greedy.yaml").write_text(SPEC)
    done = subprocess.run(
        [sys.executable, "-m", "dagspec.cli", "--project", str(tmp_path), "run", "greedy"]
        + ["--format", "json"],
        env={**os.environ, "AIRFLOW_HOME": str(tmp_path / ".airflow")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    errors = [t["error"] for t in report["tasks"] if t["state"] == "failed"]
    assert errors and all(e.startswith("sbatch refused the job: ") for e in errors), errors
    assert all("\n" not in e for e in errors), errors
