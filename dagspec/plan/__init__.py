"""`dagspec plan`: what a change to the specs changes in the running Airflow, before it merges.

The project is compiled at a base revision (read from git's objects into a temporary folder)
and as it is in the work tree; each side is described DAG by DAG from the compiler's model
(`adapter`, the one module that reads it), the descriptions are compared (`diff`), risky
changes are flagged (`risks`) and the plan is printed as text, Markdown or JSON.
"""

from __future__ import annotations

from collections.abc import Callable

from dagspec.plan import render_json, render_markdown, render_text
from dagspec.plan.diff import Plan
from dagspec.plan.gitbase import GitError
from dagspec.plan.make import CompileFailed, make_plan

RENDERERS: dict[str, Callable[[Plan], str]] = {
    "text": render_text.render,
    "markdown": render_markdown.render,
    "json": render_json.render,
}

__all__ = ["RENDERERS", "CompileFailed", "GitError", "Plan", "make_plan"]
