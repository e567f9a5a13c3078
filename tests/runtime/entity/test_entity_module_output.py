"""A module's output is judged when the module exits: a child that keeps stdout open neither
hides the envelope nor outlives the module; 100 MB on stdout or stderr costs bounded memory and
time (both go straight to files)."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from dagspec_runtime.entity.module import judge, run_process

ENVELOPE = {
    "module": "m",
    "version": "1",
    "status": "ok",
    "entity_id": "e",
    "timestamp": "2026-01-01T00:00:00Z",
    "duration_ms": 3,
    "outputs": {},
    "errors": [],
}


def run(code: str, tmp_path: Path, timeout: float = 60):
    lines: list[str] = []
    done = run_process(
        [sys.executable, "-c", code],
        cwd=os.getcwd(),
        env=os.environ,
        timeout=timeout,
        on_stderr=lines.append,
        stdout_file=tmp_path / "out.log",
        stderr_file=tmp_path / "err.log",
    )
    return done, lines


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_child_keeping_stdout_open_neither_hides_the_envelope_nor_outlives_it(
    tmp_path: Path,
) -> None:
    code = (
        "import json, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "print('child', child.pid, file=sys.stderr)\n"
        f"print(json.dumps({ENVELOPE!r}))\n"
    )
    started = time.monotonic()
    done, lines = run(code, tmp_path)
    assert time.monotonic() - started < 30  # not the child's 300 s, nor a pipe-close timeout
    envelope, failure = judge("m", "e", done, 60)
    assert failure == "" and envelope == ENVELOPE
    child = int(next(line for line in lines if line.startswith("child ")).split()[1])
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the module's child outlived it"
        time.sleep(0.05)


def test_100_mb_on_stdout_and_on_stderr_stay_bounded(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "block = ('x' * 1023 + '\\n') * 1024\n"
        "for _ in range(100):\n"
        "    sys.stdout.write(block); sys.stderr.write(block)\n"
        f"print(json.dumps({ENVELOPE!r}))\n"
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    started = time.monotonic()
    done, lines = run(code, tmp_path)
    took = time.monotonic() - started
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    envelope, failure = judge("m", "e", done, 60)
    assert failure == "" and envelope == ENVELOPE
    assert grown_mib < 64, f"peak memory grew by {grown_mib:.0f} MiB"
    assert took < 20, f"{took:.1f} s"
    assert len(lines) <= 1001 and "more stderr in" in lines[-1]
    assert (tmp_path / "err.log").stat().st_size == 100 << 20
    assert json.loads(done.stdout.splitlines()[-1]) == ENVELOPE
