"""A reduction DAG carries the declared run storage to its steps (where their Slurm job files
go on a cluster), and compiles exactly as before while none is declared."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from compiler.api import render_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = "chai-ngc253.yaml"


def _project(tmp_path: Path, url: str | None) -> Path:
    root = tmp_path / "project"
    (root / "specs").mkdir(parents=True)
    shutil.copy(ROOT / "specs" / SPEC, root / "specs" / SPEC)
    shutil.copytree(ROOT / "examples" / "reduction", root / "examples" / "reduction")
    data = yaml.safe_load((ROOT / "dagspec.yaml").read_text())
    data["spec"]["storage"] = {"url": url}
    data["spec"]["entities"] = []
    (root / "dagspec.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return root


def test_declared_storage_reaches_the_step_arguments(tmp_path: Path) -> None:
    root = _project(tmp_path, "/mnt/dagspec-state")
    text, findings = render_spec(root, root / "specs" / SPEC)
    assert text is not None, findings
    step_args = text[text.index("STEP_ARGS = {") : text.index("}", text.index("STEP_ARGS = {"))]
    assert '"storage": "/mnt/dagspec-state",' in step_args


def test_no_storage_no_change(tmp_path: Path) -> None:
    root = _project(tmp_path, None)
    text, findings = render_spec(root, root / "specs" / SPEC)
    assert text is not None, findings
    assert '"storage"' not in text
    committed = (ROOT / "generated_dags" / "chai-ngc253.py").read_text()
    assert text.split("\nfrom __future__", 1)[1] == committed.split("\nfrom __future__", 1)[1]
