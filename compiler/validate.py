"""Structural validation: JSON Schema errors turned into located findings with suggestions."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from compiler.findings import Finding, format_path
from compiler.loader import Document
from compiler.schemas import fast_validator, validator

if TYPE_CHECKING:  # jsonschema is imported only for a spec that needs located findings
    from jsonschema import ValidationError

API_VERSION = "dagspec/v1"
_JSON_TYPES = {
    dict: "mapping",
    list: "list",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


#: words YAML 1.1 read as booleans; YAML 1.2, which dagspec and editors use, reads them as text
_YAML11_BOOLS = {"yes": True, "y": True, "on": True, "no": False, "n": False, "off": False}


def did_you_mean(word: object, choices: list[str]) -> str | None:
    """A close match from `choices`, phrased as a suggestion, or None."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None


def kind_of(doc: Document, allowed: list[str]) -> tuple[str | None, list[Finding]]:
    """The document's kind, or findings saying why it has none dagspec knows."""
    data = doc.data
    if not isinstance(data, dict):
        got = _JSON_TYPES.get(type(data), type(data).__name__)
        return None, [
            _at(
                doc,
                (),
                "DS103",
                f"a spec must be a mapping, got {got}",
                "start with `apiVersion: dagspec/v1`, then `kind`, `metadata` and `spec`",
            )
        ]
    findings = []
    if data.get("apiVersion") != API_VERSION:
        where = ("apiVersion",)
        if "apiVersion" not in data:
            findings.append(
                _at(
                    doc,
                    (),
                    "DS102",
                    "missing key `apiVersion`",
                    f"add `apiVersion: {API_VERSION}` as the first line",
                )
            )
        else:
            findings.append(
                _at(
                    doc,
                    where,
                    "DS107",
                    f"unknown apiVersion `{data['apiVersion']}`",
                    f"use `{API_VERSION}`",
                )
            )
    kind = data.get("kind")
    if kind in allowed:
        return (kind if not findings else None), findings
    if "kind" not in data:
        findings.append(
            _at(
                doc,
                (),
                "DS102",
                "missing key `kind`",
                f"add `kind:` with one of {', '.join(allowed)}",
            )
        )
    else:
        hint = did_you_mean(kind, allowed) or f"use one of {', '.join(allowed)}"
        findings.append(_at(doc, ("kind",), "DS107", f"unknown kind `{kind}`", hint))
    return None, findings


def validate(doc: Document, kind: str) -> list[Finding]:
    """Every schema finding of one document, plus values no DAG file can hold, in file order."""
    fast = fast_validator(kind)
    if fast is not None and not _has_float(doc.data):  # it takes `10.0` for an integer
        try:
            if fast.is_valid(doc.data):
                return []  # valid, and without a float there is no NaN or infinity either
        except (ValueError, TypeError, OverflowError):
            pass  # a value it cannot take (a huge integer): the full validator decides
    errors = validator(kind).iter_errors(doc.data)
    found = {f for error in errors for f in _translate(doc, error)}
    return sorted(found | set(_non_finite(doc, doc.data, ())))


def _has_float(value: Any) -> bool:
    """Whether plain data holds a float anywhere (one walk, no recursion)."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif isinstance(item, float):
            return True
        elif isinstance(item, (dict, list)):  # a subclass: as the types above
            pending.extend(item.values() if isinstance(item, dict) else item)
    return False


def _non_finite(doc: Document, value: Any, path: tuple) -> Iterator[Finding]:
    """NaN and infinity (`.nan`, `.inf`, `1e400`): JSON Schema cannot say no to them, Python
    has no literal for them, and Airflow's params and Slurm's flags cannot take them."""
    if isinstance(value, float) and not math.isfinite(value):
        yield _at(
            doc,
            path,
            "DS206",
            f"{value!r} is not a finite number",
            "write a finite number (a number too large for a float, such as 1e400, is "
            "read as infinity), or quote it if it is text",
        )
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(doc, item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _non_finite(doc, item, (*path, i))


def _translate(doc: Document, error: ValidationError) -> Iterator[Finding]:
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    keyword = error.validator
    if "propertyNames" in error.schema_path and isinstance(error.instance, str):
        hint = schema.get("x-hint") or "use letters, digits and `_`"
        yield _at(
            doc,
            (*path, error.instance),
            "DS105",
            f"the key `{error.instance}` does not have the required form",
            hint,
            key=True,
        )
        return
    if keyword in ("oneOf", "anyOf") and error.context:
        from jsonschema.exceptions import best_match

        yield from _translate(doc, best_match(error.context))
    elif keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        for key in error.instance:
            if key in known or any(re.search(p, key) for p in patterns):
                continue
            hint = did_you_mean(key, known) or (
                f"allowed keys here: {', '.join(known)}" if known else None
            )
            yield _at(doc, (*path, key), "DS101", f"unknown key `{key}`", hint, key=True)
    elif keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        described = schema.get("properties", {}).get(missing, {}).get("description")
        typo = _misspelling_of(missing, error.instance, schema)
        if typo is not None:  # the DS101 on `typo` says it first, with its suggestion
            line, col = doc.marks.locate((*path, typo), key=True)
            yield Finding(
                doc.file,
                line,
                col,
                "DS102",
                f"missing key `{missing}` (`{typo}` looks like a misspelling of it)",
                format_path((*path, missing)),
                f"rename `{typo}` to `{missing}`",
            )
            return
        yield _at(
            doc,
            path,
            "DS102",
            f"missing key `{missing}`",
            f"add `{missing}:`" + (f" — {described}" if described else ""),
        )
    elif keyword == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        got = _JSON_TYPES.get(type(error.instance), type(error.instance).__name__)
        yield _at(
            doc,
            path,
            "DS103",
            f"expected {expected}, got {got} {_show(doc.marks.plain.get(path, error.instance))}",
            _type_hint(expected, error.instance, doc.marks.plain.get(path)),
        )
    elif keyword in ("enum", "const"):
        choices = error.validator_value if keyword == "enum" else [error.validator_value]
        hint = did_you_mean(error.instance, [str(c) for c in choices])
        listed = ", ".join(f"`{c}`" for c in choices)
        yield _at(
            doc, path, "DS104", f"{_show(error.instance)} is not allowed here; use {listed}", hint
        )
    elif keyword == "format" and error.validator_value == "calendar-date":
        yield _at(
            doc,
            path,
            "DS105",
            f"{_show(error.instance)} is not a day of the calendar: {error.cause}",
            "write a date that exists, as YYYY-MM-DD (February has 28 days, 29 in leap years), "
            "between 1900 and 2999",
        )
    elif keyword == "format" and error.cause is not None:
        yield _at(
            doc,
            path,
            "DS105",
            f"{_show(error.instance)} is not a schedule Airflow accepts: {error.cause}",
            "cron fields: minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7; "
            "or a preset such as `@daily`",
        )
    elif keyword in ("pattern", "format"):
        hint = schema.get("x-hint") or _hint_from_context(error)
        yield _at(
            doc, path, "DS105", f"{_show(error.instance)} does not have the required form", hint
        )
    else:
        yield _at(doc, path, "DS106", _plain(error.message), schema.get("x-hint"))


def _misspelling_of(missing: str, instance: Any, schema: dict[str, Any]) -> str | None:
    """An unknown key of `instance` that is close to the missing one (`comand` for `command`)."""
    if not isinstance(instance, dict):
        return None
    known = schema.get("properties", {})
    return next(
        (
            key
            for key in instance
            if isinstance(key, str) and key not in known and did_you_mean(key, [missing])
        ),
        None,
    )


def _hint_from_context(error: ValidationError) -> str | None:
    for sub in error.context or []:
        if isinstance(sub.schema, dict) and sub.schema.get("x-hint"):
            return sub.schema["x-hint"]
    return None


def _type_hint(expected: str, value: Any, written: str | None) -> str | None:
    """For a value YAML read as a number, boolean or null where text is expected: quote
    exactly what the author wrote (`1.10` stays "1.10", `True` stays "True")."""
    if "string" in expected and (value is None or isinstance(value, (int, float, bool))):
        shown = (
            written
            if written is not None
            else (str(value).lower() if isinstance(value, bool) else str(value))
        )
        return f'quote it: "{shown}"' if shown else "write the text, or remove the key"
    if expected == "boolean" and isinstance(value, str) and value.lower() in _YAML11_BOOLS:
        word = "true" if _YAML11_BOOLS[value.lower()] else "false"
        return f"YAML 1.2 (what editors read) takes `{value}` as text: write `{word}`"
    if expected == "integer" and isinstance(value, float) and value.is_integer():
        return f"write it as an integer: {int(value)} (Airflow's integer arguments refuse {value})"
    if expected == "array" and isinstance(value, str):
        return f"write a list: [{value}]"
    return None


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f"`{value}`"
    return text if len(text) <= 60 else text[:57] + "..."


def _plain(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."


def _at(
    doc: Document,
    path: tuple,
    code: str,
    message: str,
    suggestion: str | None = None,
    *,
    key: bool = False,
) -> Finding:
    line, col = doc.marks.locate(path, key=key)
    return Finding(doc.file, line, col, code, message, format_path(path), suggestion)
