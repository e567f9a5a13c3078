"""scripts/slurm-up.sh: the cluster it starts is usable, and a second call is a fast no-op."""

from __future__ import annotations

import subprocess
import time

import pytest

from .conftest import ClusterInfo
from .helpers import ROOT

pytestmark = pytest.mark.slurm


def test_up_again_is_idempotent_and_fast(slurm_cluster: ClusterInfo) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [str(ROOT / "scripts" / "slurm-up.sh")], capture_output=True, text=True, check=True
    )
    assert "already up" in done.stdout
    assert time.monotonic() - started < 2.0


def test_node_is_usable(slurm_cluster: ClusterInfo) -> None:
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    assert state.stdout.split()[0] in {"idle", "mix", "alloc"}
