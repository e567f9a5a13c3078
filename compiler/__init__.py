"""The compiler layer: YAML specs compiled into static Airflow 3 DAG files.

Its API is public through the `dagspec` package (the one import path for users; the CLI is
built on the same calls):

    from dagspec import compile_project, lint
    findings = lint(Path("."))
"""

from __future__ import annotations

from compiler.api import CompileResult, compile_project, graph, lint, render_spec
from compiler.findings import Finding, Severity
from compiler.reporters import REPORTERS
from compiler.rules import RULES, Rule

__all__ = [
    "REPORTERS",
    "RULES",
    "CompileResult",
    "Finding",
    "Rule",
    "Severity",
    "compile_project",
    "graph",
    "lint",
    "render_spec",
]
