"""The JSON Schemas (files under `schemas/`) and the validators and defaults built from them."""

from __future__ import annotations

import datetime
import json
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from compiler.resources import resource_dir
from compiler.schedules import cron_problem

if TYPE_CHECKING:  # jsonschema is imported when a spec needs located findings, not before
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry

SCHEMA_DIR = resource_dir("schemas")

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
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = [
        (file, Resource.from_contents(json.loads(schema_text(file)), DRAFT202012))
        for file in [*SHARED_FILES, *KIND_FILES.values()]
    ]
    return Registry().with_resources(resources)


def _airflow_cron(value: object) -> bool:
    problem = cron_problem(value) if isinstance(value, str) else None
    if problem:
        raise ValueError(problem)
    return True


#: start dates Airflow can schedule from: near year 9999 the next run overflows Python's dates
YEARS = (1900, 2999)


def _calendar_date(value: object) -> bool:
    """`YYYY-MM-DD` naming a day that exists (`2024-02-30` does not: Airflow drops the DAG),
    in years Airflow can compute runs from (`9999-12-31`: "date value out of range")."""
    if isinstance(value, str):
        try:
            day = datetime.date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{exc}") from None
        if not YEARS[0] <= day.year <= YEARS[1]:
            raise ValueError(f"the year must be between {YEARS[0]} and {YEARS[1]}")
    return True


@cache
def formats() -> FormatChecker:
    """dagspec's own formats only: `airflow-cron` is a schedule Airflow's timetables accept,
    `calendar-date` a day that exists."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("airflow-cron", raises=ValueError)(_airflow_cron)
    checker.checks("calendar-date", raises=ValueError)(_calendar_date)
    return checker


@cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """A schema pattern as JSON Schema (ECMA 262) means it: `$` is the end of the text. In
    Python `$` also matches before a final newline, so a name ending in a newline
    would pass `^[a-z]+$`."""
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    from jsonschema import ValidationError

    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _strict_integer(checker: Any, instance: Any) -> bool:
    """An integer is written as one: `10.0` is a float to Airflow's `int` arguments."""
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def validator(kind: str) -> Draft202012Validator:
    """A validator over the schema with its `$ref`s inlined: no reference lookups per node.
    Patterns match as in JSON Schema, and integers are strict (see `_pattern`,
    `_strict_integer`)."""
    from jsonschema import Draft202012Validator, validators

    strict = validators.extend(
        Draft202012Validator,
        validators={"pattern": _pattern},
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
    )
    return strict(_inlined(KIND_FILES[kind]), registry=_registry(), format_checker=formats())


@cache
def fast_validator(kind: str) -> Any | None:
    """A compiled (Rust) validator of the same schema that only says valid or not: 70 times
    faster, so a valid spec, the common case, costs almost nothing to check. Invalid ones go
    through `validator` for located findings. None when the package is not installed."""
    try:
        import jsonschema_rs
    except ImportError:
        return None

    def cron(value: str) -> bool:
        return cron_problem(value) is None

    def date(value: str) -> bool:
        try:
            return _calendar_date(value)
        except ValueError:
            return False

    # the same formats as `formats()`: only dagspec's own (a format it does not know passes)
    return jsonschema_rs.validator_for(
        _inlined(KIND_FILES[kind]),
        validate_formats=True,
        formats={"airflow-cron": cron, "calendar-date": date},
        ignore_unknown_formats=True,
    )


def apply_defaults(kind: str, data: Any) -> Any:
    """A copy of valid `data` with every schema `default` filled in where the key is absent."""
    out = plain_copy(data)
    _fill(_inlined(KIND_FILES[kind]), out)
    return out


def plain_copy(value: Any) -> Any:
    """A deep copy of plain data (dicts, lists, scalars): several times faster than deepcopy."""
    if isinstance(value, dict):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_copy(item) for item in value]
    return value


@cache
def _inlined(file: str) -> dict[str, Any]:
    """The schema with every `$ref` replaced by what it points to (our schemas do not recurse),
    so filling defaults walks plain dicts instead of resolving references each time."""
    return _inline(json.loads(schema_text(file)), file)


def _inline(node: Any, file: str) -> Any:
    if isinstance(node, list):
        return [_inline(item, file) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target_file, _, pointer = node["$ref"].partition("#")
        target_file = target_file or file
        resolved: Any = json.loads(schema_text(target_file))
        for part in filter(None, pointer.split("/")):
            resolved = resolved[part]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**_inline(resolved, target_file), **_inline(rest, file)}
    return {key: _inline(value, file) for key, value in node.items()}


def _fill(schema: dict[str, Any], value: Any) -> None:
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, sub in properties.items():
            if key not in value and "default" in sub:
                value[key] = plain_copy(sub["default"])
            if key in value:
                _fill(sub, value[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in properties:
                    _fill(extra, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _fill(schema["items"], item)
