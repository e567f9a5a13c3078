"""Render the batch script a step is submitted as.

The script is the reproducible record of what ran: resources as `#SBATCH` lines, the step's
environment, its working directory and its command line exactly as templated. Whether the
command runs in a container is the command's business (`apptainer exec IMAGE ...`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def render_batch_script(
    *,
    job_name: str,
    command: str,
    flags: Sequence[str] = (),
    partition: str | None = None,
    account: str | None = None,
    environment: Mapping[str, str] | None = None,
    workdir: str | None = None,
    output_path: str,
) -> str:
    """A `#!/bin/bash` script with `#SBATCH` lines, exports, `cd workdir` and the command."""
    lines = ["#!/bin/bash", f"#SBATCH --job-name={_directive_value(job_name, 'job_name')}"]
    lines += [f"#SBATCH {flag}" for flag in flags]
    if partition:
        lines.append(f"#SBATCH --partition={_directive_value(partition, 'partition')}")
    if account:
        lines.append(f"#SBATCH --account={_directive_value(account, 'account')}")
    lines.append(f"#SBATCH --output={_directive_value(output_path, 'output_path')}")
    lines.append("")
    for name, value in (environment or {}).items():
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"environment variable name {name!r} is not a valid shell name")
        lines.append(f"export {name}={shlex.quote(str(value))}")
    if workdir:
        lines.append(f"cd {shlex.quote(workdir)} || exit 1")
    lines.append(command.rstrip("\n"))
    return "\n".join(lines) + "\n"


def _directive_value(text: str, what: str) -> str:
    """A `#SBATCH` value; sbatch splits on whitespace unless the value is double-quoted."""
    if not text or any(c in text for c in '"\n\r'):
        raise ValueError(f"{what} must be a non-empty single line without '\"', got {text!r}")
    return f'"{text}"' if any(c.isspace() for c in text) else text
