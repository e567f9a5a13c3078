"""The example workflow's plan job (.github/workflows/specs.yml): valid for GitHub, its plan
step writes the comment and the job summary, and its comment script keeps one comment per pull
request, updated in place.

GitHub's API cannot run here: the comment script runs in Node against an in-memory stand-in
for the `github` client that actions/github-script passes it (list, create and update comments).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from plan_history import History, make_history

from dagspec.plan.render_markdown import MARKER

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "specs.yml"

# The client github-script hands the script, over a JSON file of comments.
FAKE_GITHUB = """
const fs = require('fs');
const [script, storePath] = process.argv.slice(2);
const store = JSON.parse(fs.readFileSync(storePath, 'utf8'));
const pages = (list, per_page) => {
  const out = [];
  for (let i = 0; i < list.length; i += per_page) out.push(list.slice(i, i + per_page));
  return out.length ? out : [[]];
};
const github = {
  rest: {issues: {
    listComments: async ({issue_number, per_page, page = 1}) => {
      const mine = store.comments.filter(c => c.issue === issue_number);
      return {data: pages(mine, per_page)[page - 1] || []};
    },
    createComment: async ({issue_number, body}) => {
      store.comments.push({id: store.next++, issue: issue_number, body,
                           user: {login: 'github-actions[bot]', type: 'Bot'}});
    },
    updateComment: async ({comment_id, body}) => {
      store.comments.find(c => c.id === comment_id).body = body;
    },
  }},
  paginate: async (method, params) => {
    const all = [];
    for (let page = 1; ; page++) {
      const {data} = await method({...params, page});
      all.push(...data);
      if (data.length < params.per_page) return all;
    }
  },
};
const context = {repo: {owner: 'example', repo: 'pipelines'}, issue: {number: 7}};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'require', fs.readFileSync(script, 'utf8'))(
  github, context, require,
).then(() => fs.writeFileSync(storePath, JSON.stringify(store)));
"""


def _job() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["plan"]


def _step(name: str) -> dict:
    return next(s for s in _job()["steps"] if s.get("name", "").startswith(name))


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return make_history(tmp_path_factory.mktemp("workflow") / "repo")


def test_the_workflow_is_valid_for_github() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(WORKFLOW),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _job()["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_the_plan_step_writes_the_comment_and_the_job_summary(
    history: History, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier steps\n")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_BASE_REF": "main",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    done = subprocess.run(
        ["bash", "-e", "-c", _step("Plan against")["run"]],
        cwd=history.repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    plan = (history.repo / "plan.md").read_text(encoding="utf-8")
    (history.repo / "plan.md").unlink()
    assert plan.startswith(MARKER + "\n")
    assert "Compared: merge base of HEAD and main" in plan
    assert summary.read_text(encoding="utf-8") == "earlier steps\n" + plan


def test_the_comment_is_created_once_then_updated_in_place(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node is needed to run the workflow's github-script step"
    script = tmp_path / "script.js"
    script.write_text(_step("Post the plan")["with"]["script"], encoding="utf-8")
    (tmp_path / "fake-github.js").write_text(FAKE_GITHUB, encoding="utf-8")
    others = [
        {"id": i, "issue": 7, "body": f"review {i}", "user": {"type": "User"}} for i in range(120)
    ]
    others.append({"id": 500, "issue": 7, "body": f"quoting {MARKER}", "user": {"type": "User"}})
    others.append({"id": 501, "issue": 8, "body": MARKER + "\nother PR", "user": {"type": "Bot"}})
    store = tmp_path / "comments.json"
    store.write_text(json.dumps({"next": 1000, "comments": others}))

    def post(body: str) -> list[dict]:
        (tmp_path / "plan.md").write_text(body, encoding="utf-8")
        done = subprocess.run(
            [node, "fake-github.js", str(script), str(store)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        comments = json.loads(store.read_text())["comments"]
        return [c for c in comments if c["id"] >= 1000]

    first = post(f"{MARKER}\nplan one\n")
    assert [(c["id"], c["body"]) for c in first] == [(1000, f"{MARKER}\nplan one\n")]
    second = post(f"{MARKER}\nplan two\n")  # past the first page of 100 comments
    assert [(c["id"], c["body"]) for c in second] == [(1000, f"{MARKER}\nplan two\n")]
    untouched = {c["id"]: c["body"] for c in json.loads(store.read_text())["comments"]}
    assert untouched[500] == f"quoting {MARKER}" and untouched[501] == MARKER + "\nother PR"
