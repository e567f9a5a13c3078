"""Failure drills, for real and in subprocesses: the `dagspec compile` CLI killed with SIGKILL at
random moments, a read-only output folder, a full disk (a tiny tmpfs we mount), and a spec edited
while the compile runs. Promise under test: `generated_dags/` is always the old complete set or
the new complete set, and a failed compile says why and changes nothing.

Knobs: DAGSPEC_DRILL_KILLS (default 25), DAGSPEC_DRILL_SPECS (default 200).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

KILLS = int(os.environ.get("DAGSPEC_DRILL_KILLS", "25"))
SPECS = int(os.environ.get("DAGSPEC_DRILL_SPECS", "200"))


def _spec(name: str, version: str) -> str:
    phases = "\n".join(
        f"    - name: {phase}\n      modules:\n"
        + "\n".join(
            f"        - {{name: {phase}-m{m}, command: [python, m.py, '{version}'], "
            f"outputs: [{phase}/o{m}.json]}}"
            for m in range(4)
        )
        for phase in ("pull", "build", "ship")
    )
    return (
        "apiVersion: dagspec/v1\nkind: Entity\n"
        f"metadata: {{name: {name}, owner: drill, description: 'version {version}'}}\n"
        f"spec:\n  phases:\n{phases}\n"
    )


def _project(root: Path, count: int, version: str) -> None:
    (root / "specs").mkdir(parents=True, exist_ok=True)
    names = [f"e{i:04d}" for i in range(count)]
    (root / "dagspec.yaml").write_text(
        "apiVersion: dagspec/v1\nkind: Project\nmetadata: {name: drill}\n"
        "spec:\n  pools: {dagspec_entities: {slots: 2}}\n  entities:\n"
        + "".join(f"    - {n}\n" for n in names)
    )
    for name in names:
        (root / "specs" / f"{name}.yaml").write_text(_spec(name, version))


def _cli(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dagspec.cli", "--project", str(root), "compile", *args]


def _snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _compile(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cli(root, *args), capture_output=True, text=True, timeout=300)


@pytest.fixture
def old_and_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, dict[str, bytes], dict[str, bytes], float]:
    """A project whose output holds the old complete set while its specs are the new version;
    also the new set (compiled in a twin project) and how long that full compile took. The
    Airflow check is off: it remembers the files it parsed, so the twin's compile (parsing) would
    take far longer than the killed ones (not parsing) and the kills would all land late."""
    monkeypatch.setenv("DAGSPEC_AIRFLOW_CHECK", "0")
    twin = tmp_path / "twin" / "project"
    _project(twin, SPECS, "new")
    started = time.perf_counter()
    assert _compile(twin).returncode == 0
    seconds = time.perf_counter() - started
    new = _snapshot(twin / "generated_dags")
    root = tmp_path / "project"
    _project(root, SPECS, "old")
    assert _compile(root).returncode == 0
    old = _snapshot(root / "generated_dags")
    _project(root, SPECS, "new")
    assert len(old) == len(new) == SPECS and not set(old.values()) & set(new.values())
    return root, old, new, seconds


def _describe(
    now: dict[str, bytes], old: dict[str, bytes], new: dict[str, bytes], delay: float
) -> str:
    counts = {"old": 0, "new": 0, "other": 0}
    for name, data in now.items():
        counts["old" if old.get(name) == data else "new" if new.get(name) == data else "other"] += 1
    missing = sorted(set(old) - set(now))
    return f"  kill at {delay:.3f}s: {len(now)} files: {counts}, missing {missing[:3]}"


def _restore(out: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(out)
    out.mkdir()
    for name, data in files.items():
        (out / name).write_bytes(data)


def test_kill_9_at_random_moments_leaves_old_or_new_set(
    old_and_new: tuple[Path, dict[str, bytes], dict[str, bytes], float],
) -> None:
    root, old, new, seconds = old_and_new
    out = root / "generated_dags"
    rng = random.Random(int(os.environ.get("DAGSPEC_DRILL_SEED", "20261123")))
    seen: dict[str, list[float]] = {"old": [], "new": [], "mixed": []}
    mixes: list[str] = []
    for _ in range(KILLS):
        _restore(out, old)
        delay = rng.uniform(0.0, seconds * 1.3)
        proc = subprocess.Popen(_cli(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = _snapshot(out)
        state = "old" if now == old else "new" if now == new else "mixed"
        seen[state].append(round(delay, 3))
        if state == "mixed":
            mixes.append(_describe(now, old, new, delay))
    leftovers = sorted(p.name for p in root.iterdir() if p.name.startswith(".generated_dags"))
    print(
        f"drill: {KILLS} kills over 0–{seconds * 1.3:.2f}s (full compile {seconds:.2f}s): "
        f"old {len(seen['old'])}, new {len(seen['new'])}, mixed {len(seen['mixed'])}; "
        f"staging folders left by killed runs: {len(leftovers)}"
    )
    assert not mixes, "a mix of old and new files after a kill:\n" + "\n".join(mixes)
    assert seen["old"] and seen["new"], f"the kills did not straddle the swap: {seen}"
    # and the next compile still works and cleans up after the killed ones
    assert _compile(root).returncode == 0
    assert _snapshot(out) == new
    assert [p.name for p in root.iterdir() if p.name.startswith(".generated_dags")] == []


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs we mount ourselves (we are root in the test container); always unmounted."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_output_folder_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "project"
    _project(root, 5, "old")
    with _tmpfs(tmp_path / "ro", "4m") as mount:
        out = mount / "generated_dags"
        assert _compile(root, "--out", str(out)).returncode == 0
        before = _snapshot(out)
        _project(root, 5, "new")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        done = _compile(root, "--out", str(out))
        assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
        assert "Read-only file system" in done.stderr, done.stderr
        assert _snapshot(out) == before
        assert sorted(p.name for p in mount.iterdir()) == ["generated_dags"]


def test_full_disk_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "project"
    _project(root, 10, "old")
    with _tmpfs(tmp_path / "tiny", "256k") as mount:
        out = mount / "generated_dags"
        assert _compile(root, "--out", str(out)).returncode == 0
        before = _snapshot(out)
        _project(root, 150, "new")  # ~150 × 6 KB: cannot fit in 256 KB
        done = _compile(root, "--out", str(out))
        assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
        assert "No space left on device" in done.stderr, done.stderr
        assert _snapshot(out) == before
        assert sorted(p.name for p in mount.iterdir()) == ["generated_dags"], "staging left"


# --- a spec edited during the compile: inotify tells us the moment the compiler read it --------

_IN_CLOSE_NOWRITE = 0x10


class _Inotify:
    """Just enough inotify (Linux) through ctypes: count the times a file was read and closed."""

    def __init__(self, path: Path) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK)
        if (
            self.fd < 0
            or self.libc.inotify_add_watch(self.fd, os.fsencode(path), _IN_CLOSE_NOWRITE) < 0
        ):
            pytest.skip("inotify is not available")

    def wait_closes(self, count: int, timeout: float) -> bool:
        seen, deadline = 0, time.monotonic() + timeout
        while seen < count:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return False
            data = os.read(self.fd, 4096)
            offset = 0
            while offset < len(data):
                _wd, mask, _cookie, size = struct.unpack_from("iIII", data, offset)
                seen += bool(mask & _IN_CLOSE_NOWRITE)
                offset += 16 + size
        return True

    def close(self) -> None:
        os.close(self.fd)


def test_spec_edited_during_compile_is_refused(tmp_path: Path) -> None:
    """The CLI reads each spec to hash it for the cache, then (as it changed) loads it; the
    first spec in order is edited right after it was loaded (its 2nd read), while the other
    specs are still being loaded and rendered (about a second for 300 specs), i.e. before the
    compiler re-reads the sources just ahead of the swap. The compile must refuse (DS009) and
    write nothing."""
    root = tmp_path / "project"
    _project(root, 300, "old")
    assert _compile(root).returncode == 0
    before = _snapshot(root / "generated_dags")
    _project(root, 300, "new")
    first = root / "specs" / "e0000.yaml"
    watch = _Inotify(first)
    try:
        proc = subprocess.Popen(
            _cli(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert watch.wait_closes(2, timeout=60), "the compiler never read the spec twice"
        first.write_text(first.read_text().replace("version new", "version edited"))
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        watch.close()
    assert proc.returncode == 2, (proc.returncode, stdout, stderr)
    assert "DS009" in stderr and "specs/e0000.yaml" in stderr, stderr
    assert _snapshot(root / "generated_dags") == before
