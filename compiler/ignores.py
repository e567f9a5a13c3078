"""Inline ignores: `# dagspec: ignore[DS204]` silences findings of that code on its line (or,
on a line of its own, on the next line). An ignore that silences nothing is itself reported, so
stale ignores do not pile up."""

from __future__ import annotations

import re

from compiler.findings import Finding, Severity

PATTERN = re.compile(r"#\s*dagspec:\s*ignore\[([A-Z0-9,\s]+)\]")


def apply(
    findings: list[Finding],
    texts: dict[str, str],
    unchecked: frozenset[str] | set[str] = frozenset(),
) -> list[Finding]:
    """The findings left after the ignores in `texts` (file → source), plus unused ignores
    (except in `unchecked` files, whose specs were not checked through: a spec with a
    structural error or a duplicate name may well have the finding its ignore is for)."""
    wanted: dict[tuple[str, int, str], tuple[int, int]] = {}
    for file, text in texts.items():
        if "ignore[" not in text:
            continue  # most files have none; skip reading them line by line
        for number, source in enumerate(text.splitlines(), start=1):
            match = PATTERN.search(source)
            if not match:
                continue
            target = number + 1 if not source[: match.start()].strip() else number
            for code in filter(None, (c.strip() for c in match.group(1).split(","))):
                wanted[(file, target, code)] = (number, match.start() + 1)
    used: set[tuple[str, int, str]] = set()
    kept = []
    for finding in findings:
        key = (finding.file, finding.line, finding.code)
        if key in wanted and finding.code != "DS010":
            used.add(key)
        else:
            kept.append(finding)
    for (file, target, code), (line, col) in sorted(wanted.items()):
        if (file, target, code) not in used and file not in unchecked:
            kept.append(
                Finding(
                    file,
                    line,
                    col,
                    "DS010",
                    f"`ignore[{code}]` silences nothing: no {code} finding here",
                    suggestion="remove the ignore",
                    severity=Severity.WARNING,
                )
            )
    return kept
