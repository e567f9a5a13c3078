"""Which pip extra a command needs: the compiler installs alone (`pip install dagspec`), and
the commands that run things say in one line what to add instead of failing on an import."""

from __future__ import annotations

import importlib.util

# The module a feature imports → the extra of the `dagspec` distribution that brings it.
EXTRA_OF = {
    "dagspec_runtime": "run",
    "sqlalchemy": "run",
    "uuid6": "run",
    "airflow": "airflow",
}


class MissingExtra(Exception):
    """A command needs a module this install lacks; the message names the extra."""


def require(*modules: str, why: str = "") -> None:
    """Raise MissingExtra naming the extra that brings the first missing module."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            extra = EXTRA_OF[module]
            reason = f" ({why})" if why else ""
            raise MissingExtra(
                f"needs the Python module `{module}`{reason}: pip install 'dagspec[{extra}]' "
                "(dagspec-runtime is the runtime/ folder of the dagspec repository)"
            )
