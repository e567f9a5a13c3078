"""A scratch git repository for `dagspec plan`: the example project (its `dagspec.yaml` and
`specs/`) committed on `main`, then a `feature` branch with one commit per kind of change.

Authors, dates and config are fixed, so every run makes the same commits (the same ids)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def git(repo: Path, *args: str, when: int = 0) -> str:
    stamp = f"2026-03-0{1 + when // 10}T{9 + when % 10:02d}:00:00+00:00"
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_OPTIONAL_LOCKS": "0",  # `git status` here must not refresh the index itself
        "GIT_AUTHOR_NAME": "Dana Reviewer",
        "GIT_AUTHOR_EMAIL": "dana@example.org",
        "GIT_COMMITTER_NAME": "Dana Reviewer",
        "GIT_COMMITTER_EMAIL": "dana@example.org",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def replace(path: Path, old: str, new: str) -> None:
    """Edit one place of a file; the text to replace must be there exactly once."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def add_entity(repo: Path) -> None:
    (repo / "specs" / "water-quality.yaml").write_text(
        "# yaml-language-server: $schema=../schemas/entity.schema.json\n"
        "apiVersion: dagspec/v1\n"
        "kind: Entity\n"
        "metadata:\n"
        "  name: water-quality\n"
        "  owner: team-sustainability\n"
        "  tags: [sustainability]\n"
        "  description: Water samples per site and their lab results.\n"
        "spec:\n"
        "  extends: entity-pipeline\n"
        '  schedule: "@daily"\n'
        "  catchup: true\n",
        encoding="utf-8",
    )
    replace(
        repo / "dagspec.yaml",
        "    - organization-site\n",
        "    - organization-site\n    - water-quality\n",
    )


def schedule_and_param(repo: Path) -> None:
    replace(
        repo / "specs" / "waste-tracking.yaml",
        "  extends: entity-pipeline\n",
        '  extends: entity-pipeline\n  schedule: "0 6 * * *"\n  catchup: true\n'
        "  keep_workspace: true\n",
    )


def rename_module(repo: Path) -> None:
    replace(repo / "specs" / "entity-pipeline.yaml", "- name: profile\n", "- name: data-profile\n")


def move_artifact(repo: Path) -> None:
    replace(
        repo / "specs" / "entity-pipeline.yaml",
        'to: "landing/{entity}/records.jsonl"',
        'to: "landing/{entity}/v2/records.jsonl"',
    )
    waste_etl = repo / "specs" / "waste-etl.yaml"
    replace(
        waste_etl,
        "deps: [landing/waste-tracking/records.jsonl]",
        "deps: [landing/waste-tracking/v2/records.jsonl]",
    )
    replace(
        waste_etl,
        "landing_dir: landing/waste-tracking\n",
        "landing_dir: landing/waste-tracking/v2\n",
    )


def comment_only(repo: Path) -> None:
    replace(
        repo / "specs" / "waste-etl.yaml",
        "spec:\n",
        "spec:\n  # The records arrive once a day, after the entity's promotion.\n",
    )


def rename_dag(repo: Path) -> None:
    old, new = repo / "specs" / "chai-ngc253.yaml", repo / "specs" / "chai-ngc253-co43.yaml"
    git(repo, "mv", str(old.relative_to(repo)), str(new.relative_to(repo)))
    replace(new, "  name: chai-ngc253\n", "  name: chai-ngc253-co43\n")


@dataclass(frozen=True)
class Step:
    name: str
    message: str
    edit: Callable[[Path], None]


STEPS = (
    Step("add-entity", "Add the water-quality entity, daily with catchup", add_entity),
    Step(
        "schedule-and-param",
        "Schedule waste-tracking at 06:00; keep its workspace",
        schedule_and_param,
    ),
    Step("rename-module", "Rename the profile module to data-profile", rename_module),
    Step("move-artifact", "Move the exported records to landing/<entity>/v2/", move_artifact),
    Step("comment-only", "Explain when the waste records arrive", comment_only),
    Step("rename-dag", "Rename chai-ngc253 to chai-ngc253-co43", rename_dag),
)


@dataclass(frozen=True)
class History:
    repo: Path
    main: str  # the example project
    commits: dict[str, str]  # step name → its commit on `feature`

    def parent(self, step: str) -> str:
        names = [s.name for s in STEPS]
        index = names.index(step)
        return self.main if index == 0 else self.commits[names[index - 1]]

    def checkout(self, commit: str) -> None:
        git(self.repo, "checkout", "--quiet", "--detach", commit)


def make_history(repo: Path) -> History:
    """The repository; `main` moves on after `feature` branched off (the schedule of the
    orders, a change a plan of `feature` must not show); the work tree is left at the tip of
    `feature`."""
    repo.mkdir(parents=True)
    shutil.copy(ROOT / "dagspec.yaml", repo / "dagspec.yaml")
    shutil.copytree(ROOT / "specs", repo / "specs")
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "The example project", when=0)
    main = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "--quiet", "-b", "feature")
    commits = {}
    for when, step in enumerate(STEPS, start=1):
        step.edit(repo)
        git(repo, "add", "-A")
        git(repo, "commit", "--quiet", "-m", step.message, when=when)
        commits[step.name] = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "--quiet", "main")
    replace(repo / "specs" / "orders-etl.yaml", 'schedule: "@daily"', 'schedule: "@hourly"')
    git(repo, "commit", "--quiet", "-am", "Load the orders every hour", when=len(STEPS) + 1)
    git(repo, "checkout", "--quiet", "feature")
    return History(repo, main, commits)
