"""A pipeline without `priority` gets Airflow's default priority weight, 1, on both run paths
(the generated DAG and the fast path's run plan)."""

from __future__ import annotations

import shutil
from pathlib import Path

from compiler import api
from compiler.run_plan import build_plan

ROOT = Path(__file__).resolve().parents[2]
SPEC = """\
apiVersion: dagspec/v1
kind: ReductionPipeline
metadata: {name: plain, owner: team-reduction, description: No priority given.}
spec:
  trigger: {type: MANUAL}
  data_grouping:
    name: ngc253-co43
    catalogue: examples/reduction/raw
    filter_rules: {source: NGC253, line: [CO43]}
  products_root: var/reduction
  software:
    tool: {image: ghcr.io/example/tool, versions: ["1.0.0"]}
  steps:
    - name: work
      software: tool
      group_by: [executed_obs_unit]
      config:
        command_template: echo {sub_group_key}
        resources: {cpu: 1, memory_gb: 0.25, time_hours: 0.1}
"""


def test_no_priority_means_airflows_default_weight_1(tmp_path: Path) -> None:
    config = (ROOT / "dagspec.yaml").read_text()
    start, end = config.index("  entities:"), config.index("  targets:")
    (tmp_path / "dagspec.yaml").write_text(config[:start] + config[end:])
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "plain.yaml").write_text(SPEC)
    result = api.compile_project(tmp_path)
    assert result.ok, result.findings
    [target] = [t for t in result.analysis.targets if t.name == "plain"]
    plan = build_plan(target, result.analysis)
    assert plan is not None
    assert {t["priority_weight"] for t in plan["tasks"]} == {1}, plan["tasks"]
    dag = (tmp_path / "generated_dags" / "plain.py").read_text()
    assert "priority_weight=0" not in dag and "priority_weight=1" in dag
