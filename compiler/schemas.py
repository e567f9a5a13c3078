"""The JSON Schemas (files under `schemas/`) and the validators and defaults built from them."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

#: kind → schema file; the project config is a kind of its own.
KIND_FILES = {
    "Project": "project.schema.json",
    "Entity": "entity.schema.json",
    "Manifest": "manifest.schema.json",
    "ReductionPipeline": "reduction-pipeline.schema.json",
}
SHARED_FILES = ["common.schema.json"]


@cache
def schema_text(file: str) -> str:
    return (SCHEMA_DIR / file).read_text(encoding="utf-8")


@cache
def _registry() -> Registry:
    resources = [
        (file, Resource.from_contents(json.loads(schema_text(file)), DRAFT202012))
        for file in [*SHARED_FILES, *KIND_FILES.values()]
    ]
    return Registry().with_resources(resources)


@cache
def validator(kind: str) -> Draft202012Validator:
    schema = json.loads(schema_text(KIND_FILES[kind]))
    return Draft202012Validator(schema, registry=_registry())


def apply_defaults(kind: str, data: Any) -> Any:
    """A copy of valid `data` with every schema `default` filled in where the key is absent."""
    resolver = validator(kind)._resolver
    out = copy.deepcopy(data)
    _fill(json.loads(schema_text(KIND_FILES[kind])), out, resolver)
    return out


def _fill(schema: dict[str, Any], value: Any, resolver: Any) -> None:
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        _fill(resolved.contents, value, resolved.resolver)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if key not in value:
                default = _default_of(sub, resolver)
                if default is not _MISSING:
                    value[key] = copy.deepcopy(default)
            if key in value:
                _fill(sub, value[key], resolver)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in properties:
                    _fill(extra, item, resolver)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _fill(schema["items"], item, resolver)


_MISSING = object()


def _default_of(schema: dict[str, Any], resolver: Any) -> Any:
    if "default" in schema:
        return schema["default"]
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        return _default_of(resolved.contents, resolved.resolver)
    return _MISSING
