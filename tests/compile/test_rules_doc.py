"""docs/rules.md documents every rule code, with the name the tools print."""

from __future__ import annotations

from pathlib import Path

from compiler.rules import RULES

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_every_rule_is_documented_with_its_name() -> None:
    text = DOC.read_text()
    for code, rule in RULES.items():
        assert f"| {code} | {rule.name} |" in text
