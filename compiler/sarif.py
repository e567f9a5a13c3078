"""SARIF 2.1.0 for code-scanning upload: one run, every rule described, every finding located."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

from compiler.findings import Finding, Severity
from compiler.rules import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DOCS = "docs/rules.md"


def sarif(findings: list[Finding], root: Path) -> str:
    codes = sorted(RULES)
    rules = [
        {
            "id": code,
            "name": RULES[code].name,
            "shortDescription": {"text": RULES[code].summary},
            "help": {"text": f"{RULES[code].summary} See {DOCS}#{code.lower()}."},
            "defaultConfiguration": {"level": "error"},
        }
        for code in codes
    ]
    results = [
        {
            "ruleId": f.code,
            "ruleIndex": codes.index(f.code),
            "level": "error" if f.severity is Severity.ERROR else "warning",
            "message": {"text": f.message + (f" ({f.suggestion})" if f.suggestion else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(f.file),
                        "region": {"startLine": f.line, "startColumn": f.col},
                    },
                    "logicalLocations": [{"fullyQualifiedName": f.path}] if f.path else [],
                }
            ],
            "relatedLocations": [
                {
                    "id": i,
                    "physicalLocation": {
                        "artifactLocation": _artifact(file),
                        "region": {"startLine": line, "startColumn": col},
                    },
                }
                for i, (file, line, col) in enumerate(f.related)
            ],
        }
        for f in findings
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "dagspec", "version": _version(), "rules": rules}},
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _artifact(file: str) -> dict[str, str]:
    """A URI reference for a finding's file: relative to the checkout (`%SRCROOT%`) and
    percent-encoded (spaces, `#`, `%` and non-ASCII names), or a `file://` URI if outside it."""
    path = Path(file)
    if path.is_absolute():
        return {"uri": path.as_uri()}
    return {"uri": quote(path.as_posix(), safe="/-._~!$&'()*+,;=:@"), "uriBaseId": "%SRCROOT%"}


def _version() -> str:
    try:
        return metadata.version("dagspec")
    except metadata.PackageNotFoundError:
        return "0+unknown"
