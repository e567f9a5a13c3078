"""A bad spec anywhere in the project: every command answers with its documented exit code and
output, never a traceback; `dagspec run` exits 2 with one JSON document; `dagspec.run()`
returns the report (the `run` function is not shadowed by the `dagspec.run` module)."""

from __future__ import annotations

import json
import os
import re
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


#: every command a bad spec can reach, in each of its output formats
COMMANDS = {
    "lint": ("lint",),
    "lint-json": ("lint", "--format", "json"),
    "compile": ("compile",),
    "compile-check": ("compile", "--check"),
    "render": ("render", "specs/orders-etl.yaml"),
    "graph": ("graph",),
    "graph-spec": ("graph", "orders-etl"),
    "run": ("run", "specs/orders-etl.yaml", "--dry-run"),
    "run-json": ("run", "specs/orders-etl.yaml", "--dry-run", "--format", "json"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_exits_2_on_a_spec_error_with_located_findings(
    broken: Path, request: pytest.FixtureRequest, command: str
) -> None:
    """Issue #21: a spec error exits 2 on every path (lint, compile, compile --check, render,
    graph, run), printed as located finding lines (text) or as one JSON document (json)."""
    file = BREAKS[request.node.callspec.params["broken"]][0]
    done = dagspec(broken, *COMMANDS[command])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    if command.endswith("-json"):
        document = json.loads(done.stdout)  # exactly one document: more text would raise
        if command == "run-json":
            assert document["exit_code"] == 2 and document["status"] == "config_error"
            errors = document["result"]["errors"]
            assert any(re.match(rf"{re.escape(file)}:\d+:\d+: ", e) for e in errors), errors
        else:
            assert any(f["file"] == file and f["severity"] == "error" for f in document)
        return
    located = re.compile(rf"^{re.escape(file)}:\d+:\d+: error\[DS\d{{3}} [a-z-]+\] ", re.M)
    assert located.search(done.stdout + done.stderr), done.stdout + done.stderr
    findings = [line for line in (done.stdout + done.stderr).splitlines() if "error[DS" in line]
    assert all(re.match(r"^[^\s:]+:\d+:\d+: error\[", line) for line in findings), findings


def test_dagspec_run_returns_a_report_for_a_spec_error(
    broken: Path, request: pytest.FixtureRequest
) -> None:
    import dagspec

    file = BREAKS[request.node.callspec.params["broken"]][0]
    for _ in range(2):  # the second call too: importing dagspec.run must not replace `run`
        report = dagspec.run(broken / "specs/orders-etl.yaml", dry_run=True, project=broken)
        assert isinstance(report, dagspec.RunReport)
        assert report.passed is False and report.exit_code == 2
        assert report.status == "config_error" and report.result.errors
        assert any(e.startswith(f"{file}:") for e in report.result.errors), report.result.errors
    assert callable(dagspec.run) and not isinstance(dagspec.run, type(dagspec))
