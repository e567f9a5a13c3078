"""`kill -9` of `dagspec compile` while its worker processes load specs leaves none of them alive.

Why: a killed compile once left 16 loader processes running for half an hour on a 2-core machine.
The workers are real (a project large enough for the parallel load) and so is the SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SPECS = 600  # well above compiler.analysis.PARALLEL_FROM, so the load runs in worker processes


def _project(root: Path, count: int) -> None:
    """`count` small entity specs and the project config that lists them."""
    (root / "specs").mkdir(parents=True)
    names = [f"e{i:04d}" for i in range(count)]
    (root / "dagspec.yaml").write_text(
        "apiVersion: dagspec/v1\nkind: Project\nmetadata: {name: workers}\n"
        "spec:\n  pools: {dagspec_entities: {slots: 2}}\n  entities:\n"
        + "".join(f"    - {n}\n" for n in names)
    )
    for name in names:
        (root / "specs" / f"{name}.yaml").write_text(
            "apiVersion: dagspec/v1\nkind: Entity\n"
            f"metadata: {{name: {name}, owner: drill, description: workers}}\n"
            "spec:\n  phases:\n    - name: pull\n      modules:\n"
            "        - {name: m0, command: [python, m.py], outputs: [pull/o.json]}\n"
        )


def _children(pid: int) -> set[int]:
    """PIDs whose parent is `pid` (from /proc; the workers are forked, so not exec'd)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_kill_9_of_compile_leaves_no_worker_alive(tmp_path: Path) -> None:
    if (os.cpu_count() or 1) < 2:
        raise AssertionError("needs 2 cores: with one, the compile loads specs in-process")
    _project(tmp_path, SPECS)
    command = [sys.executable, "-m", "dagspec.cli", "--project", str(tmp_path), "compile"]
    compile_ = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 120
    while not workers and compile_.poll() is None and time.monotonic() < deadline:
        workers = _children(compile_.pid)
        time.sleep(0.02)
    assert workers, "the compile finished or hung before it started worker processes"
    time.sleep(0.1)  # let every worker start its chunk
    workers |= _children(compile_.pid)
    compile_.send_signal(signal.SIGKILL)
    compile_.wait(timeout=30)
    deadline = time.monotonic() + 10  # the kernel signals them at once; reaping takes a moment
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = sorted(pid for pid in workers if _alive(pid))
    try:
        assert not left, f"compile workers still alive after kill -9 of their parent: {left}"
    finally:
        for pid in left:
            os.kill(pid, signal.SIGKILL)
