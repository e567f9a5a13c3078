"""A bad spec anywhere in the project: every command answers with its documented exit code and
output, never a traceback; `dagspec run` exits 2 with one JSON document; `dagspec.run()`
returns the report (the `run` function is not shadowed by the `dagspec.run` module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

#: ways to break the example project: (file, text replaced, replacement)
BREAKS = {
    "spec-typo": ("specs/waste-tracking.yaml", "name: waste-tracking", "nam: waste-tracking"),
    "yaml-syntax": ("specs/organization-site.yaml", "apiVersion: dagspec/v1", "apiVersion: [x"),
    "config-typo": ("dagspec.yaml", "    owner: data-platform\n", "    ownr: data-platform\n"),
}


@pytest.fixture(scope="module", params=sorted(BREAKS))
def broken(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    copy_project: Callable[[Path], Path],
) -> Path:
    root = copy_project(tmp_path_factory.mktemp(request.param))
    file, old, new = BREAKS[request.param]
    text = (root / file).read_text()
    assert old in text, (file, old)
    (root / file).write_text(text.replace(old, new, 1))
    return root


def dagspec(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIRFLOW_HOME": str(root / ".airflow")}
    command = [sys.executable, "-m", "dagspec.cli", "--project", str(root), *args]
    return subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=300)


def test_run_with_a_spec_error_exits_2_with_one_json_document(broken: Path) -> None:
    done = dagspec(broken, "run", "specs/orders-etl.yaml", "--dry-run", "--format", "json")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)  # one document, nothing else on stdout
    assert report["status"] == "config_error" and report["exit_code"] == 2
    errors = report["result"]["errors"]
    assert errors and all(e.count(":") >= 3 for e in errors), errors  # file:line:col: message


def test_run_text_with_a_spec_error_exits_2(broken: Path) -> None:
    done = dagspec(broken, "run", "specs/orders-etl.yaml", "--dry-run")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "config_error" in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("lint",),
        ("lint", "--format", "json"),
        ("compile",),
        ("compile", "--check"),
        ("render", "specs/orders-etl.yaml"),
        ("graph",),
        ("graph", "orders-etl"),
    ],
    ids=" ".join,
)
def test_other_commands_report_findings_without_a_traceback(
    broken: Path, args: tuple[str, ...]
) -> None:
    done = dagspec(broken, *args)
    assert done.returncode == 1, done.stdout + done.stderr  # 1: findings (README's table)
    assert "Traceback" not in done.stderr + done.stdout
    assert "error[DS" in done.stdout + done.stderr or '"code": "DS' in done.stdout
    if "json" in args:
        assert json.loads(done.stdout)


def test_dagspec_run_returns_a_report_for_a_spec_error(broken: Path) -> None:
    import dagspec

    for _ in range(2):  # the second call too: importing dagspec.run must not replace `run`
        report = dagspec.run(broken / "specs/orders-etl.yaml", dry_run=True, project=broken)
        assert isinstance(report, dagspec.RunReport)
        assert report.passed is False and report.exit_code == 2
        assert report.status == "config_error" and report.result.errors
    assert callable(dagspec.run) and not isinstance(dagspec.run, type(dagspec))
