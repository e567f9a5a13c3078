"""Where the schemas and templates are: the repository's top-level folders in a checkout (or
an editable install), or the copies a regular install carries inside the package."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource_dir(name: str) -> Path:
    """`schemas` or `templates`."""
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    return Path(str(files("compiler") / f"_{name}"))
