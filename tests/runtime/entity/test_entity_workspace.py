"""Workspace base resolution and naming."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagspec_runtime.entity.workspace import create_workspace, resolve_base


def test_base_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("RDT_WORKSPACE_DIR", "/explicit")
    monkeypatch.setenv("TMPDIR", "/tmpdir")
    assert resolve_base(None) == Path("/explicit")
    monkeypatch.delenv("RDT_WORKSPACE_DIR")
    assert resolve_base(None) == Path("/tmpdir")
    monkeypatch.delenv("TMPDIR")
    assert resolve_base(None) == Path("/tmp")
    assert resolve_base("var/ws", str(tmp_path)) == tmp_path / "var/ws"
    assert resolve_base("/abs/ws", str(tmp_path)) == Path("/abs/ws")


def test_unique_folders_with_phase_subfolders(tmp_path):
    first = create_workspace("waste-tracking", ["pull", "govern"], tmp_path, "rdt")
    second = create_workspace("waste-tracking", ["pull", "govern"], tmp_path, "rdt")
    assert first != second
    assert first.name.startswith("rdt-waste-tracking-")
    assert sorted(p.name for p in first.iterdir()) == ["govern", "pull"]


@pytest.mark.parametrize("entity", ["../up", "a/b", ""])
def test_entity_must_be_a_plain_name(tmp_path, entity):
    with pytest.raises(ValueError):
        create_workspace(entity, ["pull"], tmp_path)
