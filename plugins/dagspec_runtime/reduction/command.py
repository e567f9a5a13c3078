"""Render a step's command template, and wrap it in a container when the step asks for one.

Placeholders are Python `str.format` fields over a fixed context (not Jinja: Airflow already
renders `{{ }}` in templated fields, and a format field cannot run code). Every substituted value
is shell-quoted, so paths and parameters with spaces stay one argument. Attribute access
(`{x.attr}`) is refused; indexing (`{parameters[mode]}`) is allowed. Literal braces are `{{`/`}}`.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping, Sequence
from typing import Any

PLACEHOLDERS = (
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


class _QuotingFormatter(string.Formatter):
    """str.format that quotes every value for the shell and refuses attribute lookups."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if "." in field_name:
            raise ValueError(f"command template field {{{field_name}}}: attribute access refused")
        return super().get_field(field_name, args, kwargs)

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int) or key not in kwargs:
            raise KeyError(
                f"command template uses unknown placeholder {{{key}}}; known: {list(PLACEHOLDERS)}"
            )
        return kwargs[key]

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, _Raw):
            return str(value)
        return shlex.quote(format(value, format_spec))


class _Raw(str):
    """An already shell-quoted word list (inputs): inserted as is."""


def render_command(
    template: str,
    *,
    inputs: Sequence[str],
    raw_inputs: Sequence[str],
    output_dir: str,
    parameters: Mapping[str, Any],
    sub_group: Mapping[str, Any],
    sub_group_key: str,
    version: str,
    image: str | None,
    step: str,
    pipeline: str,
) -> str:
    """The command line of one step for one sub-group."""
    context = {
        "inputs": _Raw(shlex.join(inputs)),
        "raw_inputs": _Raw(shlex.join(raw_inputs)),
        "output_dir": output_dir,
        "parameters": dict(parameters),
        "sub_group": dict(sub_group),
        "sub_group_key": sub_group_key,
        "version": version,
        "image": image or "",
        "step": step,
        "pipeline": pipeline,
    }
    try:
        return _QuotingFormatter().vformat(template, (), context)
    except (KeyError, IndexError) as exc:
        raise ValueError(f"command template {template!r}: {exc.args[0]}") from exc


def container_image(image_template: str, image: str | None, version: str) -> str:
    """`<image>:<version>` by default; `image_template` may say e.g. `docker://{image}:{version}`."""
    if not image:
        raise ValueError("container apptainer needs the step's software to declare an `image`")
    return image_template.format(image=image, version=version)


def wrap_in_container(command: str, container: str, image_ref: str | None) -> str:
    """`apptainer exec <image> /bin/sh -c <command>` for apptainer; the command as is for none."""
    if container == "none":
        return command
    if container != "apptainer":
        raise ValueError(f"unknown container {container!r}")
    # Through `sh -c` so a template with `&&` or redirections runs wholly inside the container.
    # Whether apptainer exists is the job's business (it runs on the compute node, not here).
    return f"apptainer exec {shlex.quote(str(image_ref))} /bin/sh -c {shlex.quote(command)}"
