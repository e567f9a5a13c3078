"""A worker missing run state is told what to do: mount the declared storage there (it is
declared but not mounted), or declare storage (the state is on another worker's local disk)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagspec_runtime.storage import MARKER, StorageUnavailable, checkout


def test_declared_storage_not_mounted_here_says_mount_it_there(tmp_path: Path) -> None:
    location = tmp_path / "mnt" / "shared" / "workspaces" / "rdt-e-1"
    with pytest.raises(StorageUnavailable) as caught, checkout(str(location), required="w.json"):
        pass
    message = str(caught.value)
    assert f"declared run storage {tmp_path / 'mnt' / 'shared'}" in message
    assert "mount it there" in message and "declare shared" not in message


def test_state_on_another_workers_disk_says_declare_storage(tmp_path: Path) -> None:
    location = str(tmp_path / "rdt-e-1")
    with (
        pytest.raises(StorageUnavailable, match="declare shared or object storage"),
        checkout(location, required="w.json"),
    ):
        pass


def test_mounted_storage_missing_the_state_says_so(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    (root / "workspaces").mkdir(parents=True)
    (root / MARKER).write_text(json.dumps({}))
    with (
        pytest.raises(StorageUnavailable, match=f"missing from the declared run storage {root}"),
        checkout(str(root / "workspaces" / "rdt-e-1"), required="w.json"),
    ):
        pass
