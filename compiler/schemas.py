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
    """A copy of valid `data` with every schema `default` filled in where the key is absent
    (after the keys that are there, in the schema's order; defaults inside defaults too)."""
    return _filled(_defaults(KIND_FILES[kind]), data)


def plain_copy(value: Any) -> Any:
    """A deep copy of plain data (dicts, lists, scalars): several times faster than deepcopy."""
    kind = type(value)
    if kind is dict:
        return {key: plain_copy(item) for key, item in value.items()}
    if kind is list:
        return [plain_copy(item) for item in value]
    if isinstance(value, dict):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_copy(item) for item in value]
    return value


#: where a schema has defaults: (property → its Defaults, (property, default, its Defaults)
#: for each property with a default, the property names, additionalProperties', items')
Defaults = tuple[dict[str, Any], tuple[tuple[str, Any, Any], ...], frozenset[str], Any, Any]


@cache
def _defaults(file: str) -> Defaults | None:
    return _defaults_of(_inlined(file))


def _defaults_of(schema: Any) -> Defaults | None:
    """The parts of a schema that lead to a `default`, or None when none does: filling walks
    only those, and copies the rest of the data as it is."""
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties", {})
    subs: dict[str, Any] = {}
    defaults = []
    for key, sub in properties.items():
        below = _defaults_of(sub)
        if below is not None:
            subs[key] = below
        if isinstance(sub, dict) and "default" in sub:
            defaults.append((key, sub["default"], below))
    extra, items = schema.get("additionalProperties"), schema.get("items")
    extra = _defaults_of(extra) if isinstance(extra, dict) else None
    items = _defaults_of(items) if isinstance(items, dict) else None
    if not subs and not defaults and extra is None and items is None:
        return None
    return subs, tuple(defaults), frozenset(properties), extra, items


def _filled(plan: Defaults | None, value: Any) -> Any:
    """A copy of `value` with the defaults of `plan` filled in."""
    if plan is None:
        return plain_copy(value)
    subs, defaults, known, extra, items = plan
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            below = subs.get(key) if key in known else extra
            out[key] = plain_copy(item) if below is None else _filled(below, item)
        for key, default, below in defaults:
            if key not in out:
                out[key] = plain_copy(default) if below is None else _filled(below, default)
        return out
    if isinstance(value, list):
        return [_filled(items, item) for item in value]
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
