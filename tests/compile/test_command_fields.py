"""The lint-time check of `command_template` knows exactly the fields the runtime fills.

The compiler may not import the runtime (tests/compile/test_layers.py), so the field names are
written in both places; this test is what keeps them one list.
"""

from dagspec_runtime.reduction.command import PLACEHOLDERS

from compiler.command_fields import FIELDS


def test_lint_and_runtime_agree_on_the_command_template_fields() -> None:
    assert FIELDS == PLACEHOLDERS
