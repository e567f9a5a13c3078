"""A plan: compile the project at the base revision and as it is in the work tree, describe both,
compare them. No Airflow is needed: both sides are the compiler's own model."""

from __future__ import annotations

from pathlib import Path

from compiler.analysis import analyse
from compiler.findings import Finding, has_errors
from compiler.project import load_project
from compiler.reporters import REPORTERS
from dagspec.plan.adapter import describe
from dagspec.plan.description import ProjectDescription
from dagspec.plan.diff import Plan, Side, compare
from dagspec.plan.gitbase import Revision, project_at, resolve
from dagspec.plan.risks import add_risks

WORK_TREE = "working tree"


class CompileFailed(Exception):
    """One side does not compile: `report` holds its findings as `dagspec lint` prints them."""

    def __init__(self, side: str, report: str) -> None:
        super().__init__(f"{side} does not compile:\n{report}")
        self.side, self.report = side, report


def make_plan(root: Path, base: str | None = None) -> Plan:
    """The plan of the work tree at `root` against `base` (default: the merge base of HEAD and
    the default branch). Raises GitError or CompileFailed."""
    revision = resolve(root, base)
    with project_at(root, revision) as folder:
        before = (
            describe_project(folder, f"the base ({revision.short})")
            if folder is not None
            else ProjectDescription({})
        )
    after = describe_project(root, f"the {WORK_TREE}")
    plan = compare(before, after, (_side(revision, before), Side(WORK_TREE, None, len(after.dags))))
    add_risks(plan, before, after)
    return plan


def _side(revision: Revision, project: ProjectDescription) -> Side:
    return Side(revision.label, revision.commit, len(project.dags))


def describe_project(root: Path, side: str = "the project") -> ProjectDescription:
    """Every DAG of the project at `root`, described (raises CompileFailed, naming `side`).
    The cache is neither read nor written: a base folder is thrown away, and the work tree's
    cache stays as the last compile left it."""
    analysis = analyse(load_project(root, use_cache=False), use_cache=False)
    if has_errors(analysis.findings):
        raise CompileFailed(side, _report(analysis.findings, root))
    return describe(analysis)


def _report(findings: list[Finding], root: Path) -> str:
    return REPORTERS["text"](findings, root)
