"""scripts/slurm-up.sh: the cluster it starts is usable, and a second call is a fast no-op."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .helpers import ROOT

pytestmark = pytest.mark.slurm


def _daemon_pids() -> dict[str, str]:
    run = Path(os.environ.get("DAGSPEC_SLURM_STATE", "/var/lib/dagspec-slurm")) / "run"
    return {name: (run / f"{name}.pid").read_text().strip() for name in ("slurmctld", "slurmd")}


def test_up_again_is_idempotent_and_fast(slurm_cluster: Any) -> None:
    """A second call restarts nothing and only checks: measured in CPU seconds of the script
    and what it runs (wall time on a busy machine says more about the other processes)."""
    pids = _daemon_pids()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [str(ROOT / "scripts" / "slurm-up.sh")], capture_output=True, text=True, check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert "already up" in done.stdout
    assert _daemon_pids() == pids
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 1.0, f"slurm-up.sh used {cpu:.2f} CPU s for a no-op"


def test_node_is_usable(slurm_cluster: Any) -> None:
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    assert state.stdout.split()[0] in {"idle", "mix", "alloc"}


def test_daemons_listen_on_loopback_only(slurm_cluster: Any) -> None:
    """slurmctld (6817) and slurmd (6818) bind 127.0.0.1, not every interface."""
    listening = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A":  # LISTEN
            listening[int(port, 16)] = address
    assert listening.get(6817) == "0100007F" and listening.get(6818) == "0100007F"
