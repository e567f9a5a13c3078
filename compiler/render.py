"""Rendering: a sandboxed Jinja environment in which spec values can only appear as literals.

Every `{{ … }}` in a template must pass through the `py` or `pyblock` filter (a Python literal
built from `repr`) or the `ident` filter (a checked identifier made by the compiler); anything
else stops the render. So a spec value is always data in the generated file, never code.
"""

from __future__ import annotations

import keyword
import math
import re
import types
from functools import cache
from typing import TYPE_CHECKING, Any

from compiler.resources import resource_dir

if TYPE_CHECKING:  # Jinja is imported when a file is rendered, not on an up-to-date compile
    from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATE_DIR = resource_dir("templates")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: what Jinja's sandbox checks for `str.format` (see `environment`)
_METHODS = (types.MethodType, types.BuiltinMethodType)


class Code(str):
    """Text that is safe to place in generated Python source."""


class UnsafeValue(ValueError):
    """A value that has no faithful Python literal (NaN, infinity, an unknown type)."""


def quoted(text: str) -> str:
    """A string literal as `ruff format` writes it: double quotes, unless the text holds more
    double quotes than single ones (fewer escapes); escapes as `repr` makes them."""
    if '"' not in text and "\\" not in text and text.isprintable():
        return f'"{text}"'  # the common case: nothing to escape
    quote = "'" if text.count('"') > text.count("'") else '"'
    body = text.replace("\\", "\\\\").replace(quote, "\\" + quote)
    if not body.isprintable():  # line breaks, control and format characters: as repr writes them
        body = body.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
        if not body.isprintable():
            body = "".join(c if c.isprintable() else repr(c)[1:-1] for c in body)
    return quote + body + quote


def float_literal(value: float) -> str:
    """A finite float as `ruff format` writes it: `repr`'s shortest exact digits, the exponent
    without `+` (`1e16`, not `1e+16`; `1e-05` stays). `float(text) == value` always."""
    text = repr(value)
    return text.replace("e+", "e") if "e+" in text else text


def literal(value: Any) -> Code:
    """The Python literal for plain data: str, int, float, bool, None, list, dict."""
    kind = type(value)
    if kind is str:  # the common cases first, by exact type
        return Code(quoted(value))
    if kind is int or kind is bool or value is None:
        return Code(repr(value))
    if kind is list:
        return Code("[" + ", ".join([literal(item) for item in value]) + "]")
    if kind is dict:
        return Code(
            "{" + ", ".join([f"{literal(k)}: {literal(v)}" for k, v in value.items()]) + "}"
        )
    if isinstance(value, str):
        return Code(quoted(value))
    if value is None or isinstance(value, (bool, int)):
        return Code(repr(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeValue(f"{value!r} has no Python literal")
        return Code(float_literal(value))
    if isinstance(value, (list, tuple)):
        return Code("[" + ", ".join(literal(item) for item in value) + "]")
    if isinstance(value, dict):
        items = (f"{literal(k)}: {literal(v)}" for k, v in value.items())
        return Code("{" + ", ".join(items) + "}")
    raise UnsafeValue(f"a {type(value).__name__} has no Python literal")


def docstring(text: str) -> Code:
    """A module docstring as `ruff format` keeps it: without surrounding whitespace (ruff trims
    a docstring's, so spec text ending in a space would leave the file unformatted)."""
    return literal(text.strip())


def block(value: Any, indent: int = 0, width: int = 96) -> Code:
    """Like `literal`, but a long dict or list is laid out one item per line."""
    flat = literal(value)
    if len(flat) + indent <= width or not isinstance(value, (dict, list)) or not value:
        return flat
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        rows = [f"{pad}{literal(k)}: {block(v, indent + 4, width)}," for k, v in value.items()]
        return Code("{\n" + "\n".join(rows) + "\n" + " " * indent + "}")
    rows = [f"{pad}{block(v, indent + 4, width)}," for v in value]
    return Code("[\n" + "\n".join(rows) + "\n" + " " * indent + "]")


def identifier(value: Any) -> Code:
    """A name the compiler made for the generated code; anything else is refused."""
    if not isinstance(value, str) or not _IDENT.match(value) or keyword.iskeyword(value):
        raise UnsafeValue(f"{value!r} is not a safe identifier")
    return Code(value)


@cache
def template_names(template: str) -> frozenset[str]:
    """The names a template binds in the DAG file (imports, assignments, `as` targets), which a
    name made from a spec must not shadow: a phase named `timedelta` or `os` would."""
    text = (TEMPLATE_DIR / template).read_text(encoding="utf-8")
    static = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", text, flags=re.S)
    names: set[str] = set()
    for imported in re.findall(r"^\s*(?:from\s+\S+\s+)?import\s+\(?([\w\s,]+)\)?", static, re.M):
        names.update(re.findall(r"\w+", imported))
    names.update(re.findall(r"^\s*(\w+) = ", static, flags=re.M))  # keyword arguments: `k=v`
    names.update(re.findall(r"\bas\s+(\w+)", static))
    return frozenset(names)


def python_name(name: str, taken: set[str]) -> str:
    """A readable, unique Python identifier derived from a spec name."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", name)  # ASCII: `identifier` accepts nothing else
    base = base if base and not base[0].isdigit() else f"_{base}"
    ambiguous = base in ("l", "O", "I")  # ruff E741: read as 1 or 0
    base = f"{base}_" if keyword.iskeyword(base) or ambiguous else base
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _only_code(value: Any) -> Code:
    if isinstance(value, Code):
        return value
    raise UnsafeValue(f"template printed {value!r} without the `py` or `ident` filter")


@cache
def environment() -> ImmutableSandboxedEnvironment:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        """Jinja's immutable sandbox, its verdict on an attribute kept per (type, name): the
        checks behind it (a leading underscore, Python internals, a mutating method of a
        list, dict, set or deque) look at nothing else, and a compile reads the same few
        attributes of the model's objects hundreds of thousands of times."""

        verdicts: dict[tuple[type, str], bool] = {}
        dict_methods = frozenset(dir(dict))

        def getattr(self, obj: Any, attribute: str) -> Any:
            kind = type(obj)
            # `mapping.key` of a plain dict is `mapping["key"]` unless `key` names a method:
            # looked up directly, not after the AttributeError the base class waits for
            if kind is dict and attribute not in self.dict_methods:
                try:
                    return obj[attribute]
                except KeyError:
                    return self.undefined(obj=obj, name=attribute)
            if self.verdicts.get((kind, attribute)):  # known safe on this type
                try:
                    value = getattr(obj, attribute)
                except AttributeError:
                    pass
                else:
                    if not isinstance(value, _METHODS):  # a method may be str.format: wrapped
                        return value
            return super().getattr(obj, attribute)

        def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
            key = (type(obj), attr)
            verdict = self.verdicts.get(key)
            if verdict is None:
                verdict = self.verdicts[key] = super().is_safe_attribute(obj, attr, value)
            return verdict

    env = Sandbox(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        auto_reload=False,  # the templates are read once per process (see template_digest)
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_only_code,
    )
    env.filters["py"] = literal
    env.filters["docstring"] = docstring
    env.filters["pyblock"] = block
    env.filters["ident"] = identifier
    return env


def render(template: str, model: dict[str, Any]) -> str:
    """The template's text for the model, its long lines laid out as `ruff format` does."""
    from compiler.layout import lay_out

    return lay_out(environment().get_template(template).render(**model))


@cache
def template_digest(name: str) -> str:
    """A digest of one template and the shared partials (`_*.j2`) it may include, so editing
    either re-renders exactly the files made from them."""
    import hashlib

    digest = hashlib.sha256((TEMPLATE_DIR / name).read_bytes())
    for partial in sorted(TEMPLATE_DIR.glob("_*.j2")):
        digest.update(partial.read_bytes())
    return digest.hexdigest()
