"""A reduction step's `command_template`, rendered at lint time against a dummy context.

The runtime fills the template with `str.format` fields (dagspec_runtime.reduction.command):
a field it cannot fill fails the step on the cluster, long after lint. Here every field is
checked against the same names, the step's `parameters` and its `group_by` fields, and the
template is formatted once with placeholder values, so `{input}`, `{parameters[typo]}` and
awk's `{print $1}` (write `{{print $1}}`) are lint errors at the template.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from typing import Any

#: the fields the runtime fills (dagspec_runtime.reduction.command), kept equal by
#: tests/compile/test_command_fields.py
FIELDS = (
    "inputs",
    "raw_inputs",
    "output_dir",
    "parameters",
    "sub_group",
    "sub_group_key",
    "version",
    "image",
    "step",
    "pipeline",
)
_FORMATTER = string.Formatter()


def problem(template: str, parameters: Mapping[str, Any], group_by: Iterable[str]) -> str | None:
    """Why the runtime could not render `template`; None when it can."""
    context: dict[str, Any] = {name: "x" for name in FIELDS}
    context["parameters"] = dict(parameters)
    context["sub_group"] = {field: "x" for field in group_by}
    try:
        fields = [name for _, name, _, _ in _FORMATTER.parse(template) if name is not None]
    except ValueError as exc:
        return f"{exc} (a literal brace is written twice: `{{{{` or `}}}}`)"
    for name in fields:
        root = name.split(".", 1)[0].split("[", 1)[0]
        if root == "" or root.isdigit():
            return "a positional field `{}` has no value; name a field such as `{inputs}`"
        if root not in FIELDS:
            return (
                f"unknown field `{{{name}}}`; the fields are "
                + ", ".join(f"{{{f}}}" for f in FIELDS)
                + " (a literal brace is written twice: `{{` or `}}`)"
            )
        try:
            _FORMATTER.get_field(name, (), context)
        except (KeyError, IndexError, AttributeError, TypeError) as exc:
            known = {"parameters": sorted(parameters), "sub_group": sorted(context["sub_group"])}
            names = ", ".join(known.get(root, [])) or "none"
            return f"`{{{name}}}` cannot be filled ({exc!s}); {root} here: {names}"
    try:
        _FORMATTER.vformat(template, (), context)
    except (KeyError, IndexError, AttributeError, ValueError, TypeError) as exc:
        return f"it cannot be rendered: {exc}"
    return None
