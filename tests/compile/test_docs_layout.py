"""docs/editors.md maps every spec of this repository to the schema of its kind."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatch
from pathlib import Path

from compiler.schemas import KIND_FILES

ROOT = Path(__file__).resolve().parents[2]


def test_the_vscode_mapping_covers_every_spec_with_its_kind() -> None:
    text = (ROOT / "docs" / "editors.md").read_text(encoding="utf-8")
    block = re.search(r"```json\n(.*?)```", text, re.S)
    assert block, "docs/editors.md has no JSON settings block"
    mapping = json.loads(block.group(1))["yaml.schemas"]
    files = [*sorted((ROOT / "specs").glob("*.yaml")), ROOT / "dagspec.yaml"]
    for spec in files:
        shown = spec.relative_to(ROOT).as_posix()
        kind = re.search(r"^kind: *(\w+)", spec.read_text(encoding="utf-8"), re.M).group(1)
        schemas = [
            schema
            for schema, globs in mapping.items()
            if any(fnmatch(shown, g) for g in ([globs] if isinstance(globs, str) else globs))
        ]
        assert schemas == [f"./schemas/{KIND_FILES[kind]}"], shown


def test_the_example_workflow_avoids_what_actionlint_flags() -> None:
    """actionlint cannot be installed offline; these are the findings it reported before."""
    text = (ROOT / ".github" / "workflows" / "specs.yml").read_text(encoding="utf-8")
    uses = re.findall(r"uses: *(\S+)@v(\d+)", text)
    oldest = {
        "actions/checkout": 5,
        "actions/setup-python": 6,
        "github/codeql-action/upload-sarif": 4,
        "actions/github-script": 8,
    }  # the first releases off node20
    assert uses and all(int(v) >= oldest[a] for a, v in uses), uses
    assert not re.search(r"\$changed\b(?!\[)", text), "unquoted $changed"
    assert "${{" not in "".join(line for line in text.splitlines() if "run:" in line)
