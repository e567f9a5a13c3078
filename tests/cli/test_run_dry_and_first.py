"""A dry run changes nothing in generated_dags/, even when it is stale; two first runs through
Airflow in a fresh clone both succeed (creating the local Airflow database is serialised)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow


def dagspec(project: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(project / ".airflow"),
        "RDT_WORKSPACE_DIR": str(project / "ws"),
    }
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    return subprocess.Popen(
        [sys.executable, "-m", "dagspec.cli", "--project", str(project), *args],
        env=env,
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_dry_run_leaves_generated_dags_byte_identical(
    tmp_path: Path, copy_project: Callable[[Path], Path]
) -> None:
    project = copy_project(tmp_path / "p")
    assert dagspec(project, "compile").wait(timeout=120) == 0
    spec = project / "specs" / "organization-site.yaml"
    spec.write_text(
        spec.read_text().replace("Sites of the organization", "Sites of the whole organization")
    )
    before = snapshot(project / "generated_dags")  # stale now: the spec changed
    for extra in ([], ["--airflow"]):
        proc = dagspec(project, "run", "organization-site", "--dry-run", *extra)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out + err
        assert snapshot(project / "generated_dags") == before, extra
    assert not (project / "models").exists()


def test_two_concurrent_first_runs_through_airflow_both_succeed(
    tmp_path: Path, copy_project: Callable[[Path], Path]
) -> None:
    project = copy_project(tmp_path / "p")
    assert not (project / ".airflow").exists()
    runs = [
        dagspec(project, "run", name, "--dry-run", "--airflow")
        for name in ("waste-tracking", "organization-site")
    ]
    results = [proc.communicate(timeout=600) for proc in runs]
    for proc, (out, err) in zip(runs, results, strict=True):
        assert proc.returncode == 0, out + err
    assert sum("creating the local Airflow database" in err for _, err in results) == 1
