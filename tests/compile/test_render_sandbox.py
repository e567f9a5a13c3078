"""The compiler's Jinja environment answers every attribute read as Jinja's own immutable
sandbox does, also once it remembers its verdicts (compiler.render.environment)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from compiler import render


@dataclass
class Inner:
    text: str = "{0.__class__}"


@dataclass
class Model:
    text: str = "plain"
    items: list[int] = field(default_factory=lambda: [1, 2])
    mapping: dict[str, Any] = field(default_factory=lambda: {"key": "v", "items": 3})
    inner: Inner = field(default_factory=Inner)

    def method(self) -> str:
        return "called"


TEMPLATES = [
    "{{ m.key|py }}",
    "{{ m.items|py }}",
    "{% for k, v in m.items() %}{{ k|py }}={{ v|py }};{% endfor %}",
    "{{ m.get('key')|py }}",
    "{{ m.clear() }}",
    "{{ m.pop('key')|py }}",
    "{{ m.update(x=1) }}",
    "{{ m.missing|py }}",
    "{{ m.missing.deeper|py }}",
    "{{ m.__class__|py }}",
    "{{ obj.text|py }}",
    "{{ obj.inner.text|py }}",
    "{{ obj.inner.text.format(obj)|py }}",
    "{{ obj.text.format_map(m)|py }}",
    "{{ obj.text.upper()|py }}",
    "{{ obj.items|py }}",
    "{{ obj.items.append(3) }}",
    "{{ obj.items.index(2)|py }}",
    "{{ obj.mapping.items|py }}",
    "{{ obj.mapping.key|py }}",
    "{{ obj.method()|py }}",
    "{{ obj.method.__func__|py }}",
    "{{ obj.__class__.__name__|py }}",
    "{{ obj.__dict__|py }}",
    "{{ obj._private|py }}",
    "{{ obj.missing|py }}",
    "{{ obj.missing.deeper|py }}",
]


def _jinja() -> ImmutableSandboxedEnvironment:
    """Jinja's own sandbox, set up as compiler.render sets up its environment."""
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(render.TEMPLATE_DIR),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=render._only_code,
    )
    env.filters.update(py=render.literal, pyblock=render.block, ident=render.identifier)
    return env


def _outcome(env: Any, source: str) -> tuple[str, str]:
    values = {"m": {"key": "v", "items": 3}, "obj": Model()}
    try:
        return "text", env.from_string(source).render(**values)
    except Exception as exc:  # the kind of refusal and its message must match too
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("source", TEMPLATES)
def test_every_read_is_answered_as_jinjas_sandbox_answers_it(source: str) -> None:
    expected = _outcome(_jinja(), source)
    for _ in range(3):  # the first read decides; later ones use what was remembered
        assert _outcome(render.environment(), source) == expected


def test_the_refusals_still_refuse() -> None:
    """What the comparison above covers includes these refusals (not only passing reads)."""
    refused = {
        source: kind
        for source in TEMPLATES
        if (kind := _outcome(render.environment(), source)[0]) != "text"
    }
    assert refused["{{ m.clear() }}"] == "SecurityError"
    assert refused["{{ obj.items.append(3) }}"] == "SecurityError"
    assert refused["{{ obj.inner.text.format(obj)|py }}"] == "SecurityError"
    assert refused["{{ obj.__class__.__name__|py }}"] == "SecurityError"
    assert refused["{{ obj.missing.deeper|py }}"] == "UndefinedError"
