"""The seed's phase and pipeline status rules, as a table."""

from __future__ import annotations

import pytest
from dagspec_runtime.entity.status import phase_status, pipeline_status, promotable


@pytest.mark.parametrize(
    ("modules", "expected"),
    [
        ({"a": (True, "ok"), "b": (True, "warning")}, "ok"),
        ({"a": (True, "ok"), "p": (False, "error")}, "warning"),
        ({"a": (True, "ok"), "b": (True, "error")}, "partial"),
        ({"a": (True, "partial"), "b": (True, "ok")}, "partial"),
        ({"a": (True, "error"), "b": (True, "partial"), "p": (False, "ok")}, "error"),
        ({"p": (False, "error")}, "warning"),
        ({"a": (True, "not_run"), "b": (True, "not_run")}, "not_run"),
        ({}, "not_run"),
    ],
)
def test_phase_status(modules, expected):
    assert phase_status(modules) == expected


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        (["ok", "ok"], "ok"),
        (["ok", "warning", "ok"], "warning"),
        (["warning", "partial", "ok"], "partial"),
        (["partial", "error", "not_run"], "error"),
        (["ok", "not_run"], "error"),
    ],
)
def test_pipeline_status(phases, expected):
    assert pipeline_status(phases) == expected


def test_promotable_only_when_clean_and_not_dry_run():
    assert promotable("ok", False) and promotable("warning", False)
    assert not promotable("ok", True)
    assert not promotable("partial", False) and not promotable("error", False)
