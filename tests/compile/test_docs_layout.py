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
        schemas = [schema for schema, globs in mapping.items()
                   if any(fnmatch(shown, g) for g in ([globs] if isinstance(globs, str)
                                                      else globs))]
        assert schemas == [f"./schemas/{KIND_FILES[kind]}"], shown
