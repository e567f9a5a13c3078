"""The catalogue of finding codes: one place that names and documents every rule."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str


_RULES = [
    # DS0xx: the file itself
    Rule("DS001", "yaml-syntax", "The file is not valid YAML."),
    Rule("DS002", "yaml-tab", "A tab character is used for indentation; YAML allows only spaces."),
    Rule("DS003", "duplicate-key", "A mapping has the same key twice; YAML would keep only one."),
    Rule("DS004", "file-too-large", "The file is larger than a spec may be."),
    Rule("DS005", "alias-bomb", "Anchors and aliases expand into too many nodes."),
    Rule("DS006", "unsafe-tag", "A YAML tag asks for something other than plain data."),
    Rule("DS007", "empty-file", "The file holds no document."),
    Rule("DS008", "unreadable", "The file cannot be read."),
    Rule("DS009", "changed-during-compile", "The file changed while it was being compiled."),
    Rule("DS010", "unused-ignore", "An inline `# dagspec: ignore[...]` silences nothing."),
    Rule("DS011", "too-deep", "The document nests deeper than any spec needs."),
    # DS1xx: structure (JSON Schema)
    Rule("DS101", "unknown-key", "A key the schema does not know (often a typo)."),
    Rule("DS102", "missing-key", "A required key is missing."),
    Rule("DS103", "wrong-type", "A value has the wrong type."),
    Rule("DS104", "bad-value", "A value is not one of the allowed choices."),
    Rule("DS105", "bad-format", "A value does not match the required pattern."),
    Rule("DS106", "out-of-range", "A value breaks a size or range limit."),
    Rule("DS107", "unknown-kind", "apiVersion or kind is not one dagspec knows."),
    # DS2xx: meaning across the spec and the project
    Rule("DS201", "duplicate-name", "Two things that must have distinct names share one."),
    Rule("DS202", "dangling-reference", "A reference names something that does not exist."),
    Rule("DS203", "cycle", "References form a cycle."),
    Rule("DS204", "unlisted-entity", "An Entity spec is not in the project's entity list."),
    Rule("DS205", "output-outside-phase", "A module writes outside its phase's folder."),
    Rule("DS206", "unsafe-value", "A value cannot be written into a DAG file as a literal."),
    Rule("DS207", "table-clash", "A sink or mart table collides with another or the meta-log."),
    Rule("DS210", "double-producer", "Two tasks declare the same path in `outs`."),
    Rule("DS211", "source-file-dep", "A dep no spec produces is read from a file on disk."),
    Rule("DS212", "finer-group-by", "A step's group_by is finer than that of a step it needs."),
    Rule(
        "DS213",
        "timetable-with-assets",
        "`@once` or `@continuous` cannot also wait on the Assets a DAG reads.",
    ),
    Rule(
        "DS230", "airflow-refused", "Airflow refuses the DAG file, drops the DAG or never runs it."
    ),
    # DS22x: compiles, but will surprise people in Airflow (warnings)
    Rule("DS220", "implicit-catchup", "A scheduled DAG does not say whether it catches up."),
    Rule("DS221", "module-without-outputs", "A module declares no outputs to promote or pass on."),
    Rule("DS222", "pool-narrower-than-phase", "A phase runs more modules than its pool has slots."),
    Rule("DS223", "resources-exceed-node", "A step asks for more than the Slurm node has."),
]

RULES: dict[str, Rule] = {rule.code: rule for rule in _RULES}
