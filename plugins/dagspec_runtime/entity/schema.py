"""Runtime JSON Schemas, shipped as package data so workers validate without the compiler."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator


@cache
def validator(name: str) -> Draft202012Validator:
    """Load ``schemas/<name>.schema.json`` once per process."""
    text = (
        resources.files(__package__)
        .joinpath("schemas", f"{name}.schema.json")
        .read_text(encoding="utf-8")
    )
    return Draft202012Validator(json.loads(text))


def problems(name: str, document: Any) -> list[str]:
    """Every way ``document`` breaks schema ``name``, as short readable lines."""
    found = []
    for error in sorted(validator(name).iter_errors(document), key=lambda e: list(e.path)):
        where = "/".join(str(part) for part in error.path) or "(top level)"
        found.append(f"{where}: {error.message}")
    return found


def check(name: str, document: Any, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` when ``document`` breaks schema ``name``."""
    found = problems(name, document)
    if found:
        raise ValueError(f"{what} does not match the {name} schema: " + "; ".join(found))
