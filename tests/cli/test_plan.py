"""`dagspec plan` on a scratch git repository (tests/cli/plan_history.py): one commit per kind
of change, each planned against its parent, and the whole branch against its merge base.

The expected plans are golden files in tests/golden/plan/. Regenerate (don't edit) after an
intended change: DAGSPEC_REGENERATE_GOLDEN=1 pytest tests/cli/test_plan.py
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace as copy
from pathlib import Path

import pytest
from plan_history import STEPS, History, git, make_history, replace

from dagspec.cli import main
from dagspec.plan.description import ProjectDescription
from dagspec.plan.diff import Side, compare
from dagspec.plan.make import describe_project
from dagspec.plan.render_markdown import LIMIT, MARKER, render

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "plan"
SUFFIX = {"text": "txt", "markdown": "md", "json": "json"}
REGENERATE = "regenerate, don't edit: DAGSPEC_REGENERATE_GOLDEN=1 pytest tests/cli/test_plan.py"
HEADER = {"text": f"# {REGENERATE}\n", "markdown": f"<!-- {REGENERATE} -->\n", "json": ""}
PLANS = [s.name for s in STEPS] + ["whole-branch", "back-to-main"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return make_history(tmp_path_factory.mktemp("plan") / "repo")


def plan(repo: Path, *args: str) -> tuple[int, str, str]:
    """Run `dagspec plan` in this process: exit code, stdout, stderr."""
    out, err = _Capture(), _Capture()
    real = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = main(["--project", str(repo), "plan", *args])
    finally:
        sys.stdout, sys.stderr = real
    return code, "".join(out.parts), "".join(err.parts)


class _Capture:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.fixture(scope="module")
def plans(history: History) -> dict[tuple[str, str], str]:
    """Every plan in every format: each step against its parent, the tip of `feature` against
    the default base, and `main` (which moved on) against the tip of `feature`, which undoes the
    branch: a removed DAG, renames back. The work tree ends at the tip of `feature`."""
    os.environ.pop("GITHUB_BASE_REF", None)
    found = {}
    for step in STEPS:
        history.checkout(history.commits[step.name])
        for fmt in SUFFIX:
            code, out, err = plan(
                history.repo, "--base", history.parent(step.name), "--format", fmt
            )
            assert code == 0, err
            found[step.name, fmt] = out
    for name, checkout, args in (
        ("back-to-main", "main", ["--base", "feature"]),
        ("whole-branch", "feature", []),
    ):
        git(history.repo, "checkout", "--quiet", checkout)
        for fmt in SUFFIX:
            code, out, err = plan(history.repo, *args, "--format", fmt)
            assert code == 0, err
            found[name, fmt] = out
    return found


@pytest.mark.parametrize("fmt", list(SUFFIX))
@pytest.mark.parametrize("name", PLANS)
def test_plan_matches_its_golden_file(plans: dict, name: str, fmt: str) -> None:
    golden = GOLDEN / f"{name}.{SUFFIX[fmt]}"
    expected = HEADER[fmt] + plans[name, fmt]
    if os.environ.get("DAGSPEC_REGENERATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(expected, encoding="utf-8")
    assert golden.read_text(encoding="utf-8") == expected


def _json(plans: dict, name: str) -> dict:
    return json.loads(plans[name, "json"])


def _dags(data: dict) -> dict[str, dict]:
    return {d["dag_id"]: d for d in data["dags"]}


def _codes(dag: dict) -> list[str]:
    return [w["code"] for w in dag["warnings"]]


def test_an_added_entity_is_a_new_dag_that_catches_up(plans: dict) -> None:
    dags = _dags(_json(plans, "add-entity"))
    assert list(dags) == ["water-quality"]
    added = dags["water-quality"]
    assert (added["status"], added["spec"], added["task_count"]) == (
        "added",
        "specs/water-quality.yaml",
        18,
    )
    assert {"path": "schedule", "new": "@daily"} in added["arguments"]
    assert _codes(added) == ["new-dag-catchup"]


def test_a_schedule_and_a_param_default_change_with_their_warnings(plans: dict) -> None:
    data = _json(plans, "schedule-and-param")
    (dag,) = data["dags"]
    assert dag["dag_id"] == "waste-tracking" and dag["new_version"]
    assert {"path": "schedule", "old": None, "new": "0 6 * * *"} in dag["arguments"]
    assert dag["params"] == [{"path": "keep_workspace.default", "old": False, "new": True}]
    assert _codes(dag) == ["schedule-with-catchup", "param-default-scheduled"]
    assert [d["consumer"] for d in dag["assets"]["downstream"]] == ["waste-etl.waste-records"]


def test_a_renamed_module_is_a_renamed_task_in_every_entity(plans: dict) -> None:
    dags = _dags(_json(plans, "rename-module"))
    assert sorted(dags) == ["organization-site", "waste-tracking", "water-quality"]
    for dag in dags.values():
        (renamed,) = [t for t in dag["tasks"] if t["status"] == "renamed"]
        assert (renamed["renamed_from"], renamed["task_id"]) == (
            "govern.profile",
            "govern.data-profile",
        )
        assert _codes(dag) == ["renamed-task"]
        assert dag["edges"] == {"added": [], "removed": []}


def test_a_moved_artifact_reports_the_downstream_dag(plans: dict) -> None:
    dags = _dags(_json(plans, "move-artifact"))
    producer, consumer = dags["waste-tracking"], dags["waste-etl.waste-records"]
    old, new = "landing/waste-tracking/records.jsonl", "landing/waste-tracking/v2/records.jsonl"
    assert [(k["path"], k["consumer"]) for k in producer["assets"]["triggers_added"]] == [
        (new, "waste-etl.waste-records")
    ]
    assert [k["path"] for k in producer["assets"]["triggers_removed"]] == [old]
    assert [k["consumer"] for k in producer["assets"]["downstream"]] == ["waste-etl.waste-records"]
    assert [k["path"] for k in consumer["assets"]["inlets_added"]] == [new]
    assert [k["path"] for k in consumer["assets"]["inlets_removed"]] == [old]
    assert "→ reaches waste-etl.waste-records" in plans["move-artifact", "text"]


def test_a_comment_changes_no_dag(plans: dict) -> None:
    data = _json(plans, "comment-only")
    assert data["changed"] is False
    assert all(d["documentation_only"] for d in data["dags"])
    assert "no change to any DAG" in plans["comment-only", "text"]


def test_a_renamed_spec_is_a_renamed_dag_that_orphans_its_history(plans: dict) -> None:
    (dag,) = _json(plans, "rename-dag")["dags"]
    assert (dag["status"], dag["renamed_from"], dag["dag_id"]) == (
        "renamed",
        "chai-ngc253",
        "chai-ngc253-co43",
    )
    assert _codes(dag) == ["renamed-dag"]


def test_the_default_base_is_the_merge_base_with_the_default_branch(
    plans: dict, history: History
) -> None:
    data = _json(plans, "whole-branch")
    assert data["base"]["commit"] == history.main
    assert data["base"]["label"] == "merge base of HEAD and main"
    assert "orders-etl.orders" in data["summary"]["unchanged"]  # main's later change is not ours


def test_undoing_the_branch_removes_the_new_entity(plans: dict) -> None:
    dags = _dags(_json(plans, "back-to-main"))
    assert dags["water-quality"]["status"] == "removed"
    assert dags["water-quality"]["airflow"] == "marked stale"
    assert dags["chai-ngc253"]["renamed_from"] == "chai-ngc253-co43"
    schedule = {"path": "schedule", "old": "@daily", "new": "@hourly"}  # main's own change
    assert dags["orders-etl.orders"]["arguments"] == [schedule]
    assert dags["orders-etl.orders"]["warnings"] == []  # no catchup


def test_uncommitted_edits_are_planned_and_nothing_in_git_changes(history: History) -> None:
    repo = history.repo
    spec = repo / "specs" / "orders-etl.yaml"
    before_text = spec.read_text(encoding="utf-8")
    replace(spec, "retries: 2", "retries: 4")
    (repo / "untracked.txt").write_text("not ours\n")
    try:
        state = _git_state(repo)
        code, out, _ = plan(repo, "--base", "HEAD")
        assert code == 0
        assert "retries: 2 → 4" in out
        assert _git_state(repo) == state
    finally:
        spec.write_text(before_text, encoding="utf-8")
        (repo / "untracked.txt").unlink()


def _git_state(repo: Path) -> tuple:
    """The index file's bytes, the status, the refs and every work-tree file's bytes."""
    files = {
        str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    index = hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest()
    refs = git(repo, "for-each-ref")
    return index, git(repo, "status", "--porcelain", "--untracked-files=all"), refs, files


def test_a_work_tree_that_does_not_compile_exits_2_with_located_findings(
    history: History,
) -> None:
    spec = history.repo / "specs" / "orders-etl.yaml"
    text = spec.read_text(encoding="utf-8")
    replace(spec, "strategy: merge", "strategy: merge\n        stratgy: merge")
    try:
        code, out, err = plan(history.repo, "--base", "HEAD")
    finally:
        spec.write_text(text, encoding="utf-8")
    assert (code, out) == (2, "")
    assert "specs/orders-etl.yaml:24:9: error[DS101 unknown-key]" in err
    assert "dagspec plan: the working tree does not compile; no plan" in err


def test_a_base_that_does_not_compile_exits_2_naming_it(history: History) -> None:
    repo = history.repo
    spec = repo / "specs" / "orders-etl.yaml"
    replace(spec, "catchup: false", "catchup: maybe")
    git(repo, "commit", "--quiet", "-am", "broken")
    broken = git(repo, "rev-parse", "HEAD")
    git(repo, "reset", "--quiet", "--hard", "HEAD~1")
    code, _, err = plan(repo, "--base", broken)
    assert code == 2
    assert "specs/orders-etl.yaml:12:12: error[" in err
    assert f"the base ({broken[:10]}) does not compile" in err


def test_an_unknown_base_or_no_repository_is_a_usage_error(
    history: History, tmp_path: Path
) -> None:
    code, _, err = plan(history.repo, "--base", "no-such-branch")
    assert code == 2 and "`no-such-branch` is not a commit of this repository" in err
    (tmp_path / "dagspec.yaml").write_text((history.repo / "dagspec.yaml").read_text())
    code, _, err = plan(tmp_path)
    assert code == 2 and "is not inside a git repository" in err


def test_a_base_without_the_project_adds_every_dag(history: History) -> None:
    repo = history.repo
    empty_tree = git(repo, "hash-object", "-t", "tree", "/dev/null")
    empty = git(repo, "commit-tree", empty_tree, "-m", "nothing yet")
    code, out, _ = plan(repo, "--base", empty, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["base"]["dags"] == 0
    assert {d["status"] for d in data["dags"]} == {"added"} and len(data["dags"]) == 6


def test_a_project_below_the_repository_root(tmp_path: Path) -> None:
    repo = tmp_path / "mono"
    (repo / "pipelines").mkdir(parents=True)
    root = Path(__file__).resolve().parents[2]
    (repo / "pipelines" / "dagspec.yaml").write_bytes((root / "dagspec.yaml").read_bytes())
    (repo / "README.md").write_text("other things\n")
    shutil.copytree(root / "specs", repo / "pipelines" / "specs")
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "start")
    replace(repo / "pipelines" / "specs" / "orders-etl.yaml", "retries: 2", "retries: 3")
    code, out, _ = plan(repo / "pipelines")
    assert code == 0
    assert "retries: 2 → 3" in out and "Plan: 1 changed" in out


def test_the_markdown_stays_within_githubs_comment_limit() -> None:
    root = Path(__file__).resolve().parents[2]
    one = describe_project(root).dags["waste-tracking"]
    many = {f"entity-{i:04d}": copy(one, dag_id=f"entity-{i:04d}") for i in range(600)}
    big = compare(
        ProjectDescription({}),
        ProjectDescription(many),
        (Side("base", "0" * 40, 0), Side("working tree", None, 600)),
    )
    text = render(big)
    assert text.startswith(MARKER + "\n") and len(text) <= LIMIT
    assert text.rstrip().endswith("Run `dagspec plan` for the whole plan._")
    assert "**600 added; 0 unchanged.**" in text
    small = render(big, limit=3_000)
    assert len(small) <= 3_000 and "Not shown" in small


def test_plan_needs_neither_airflow_nor_the_runtime(history: History) -> None:
    """What PR CI installs: the compiler alone. Importing either would fail here."""
    script = (
        "import sys\n"
        "for name in ('airflow', 'dagspec_runtime', 'sqlalchemy'):\n"
        "    sys.modules[name] = None\n"
        "from dagspec.cli import main\n"
        f"sys.exit(main(['--project', {str(history.repo)!r}, 'plan', '--base', 'main']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dagspec plan: main (")
