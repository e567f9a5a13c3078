"""File states: what the cache remembers of a file so it need not read it again.

A spec file's state is its inode, size, modification and change time, kept with the digest
of its bytes (`states.pickle`); while its state is unchanged the file is not read. The change
time moves on every write, even one that keeps the size and puts the modification time back;
a state is recorded only once its change time is `RACY_SECONDS` old, so a write within the
same clock tick as the recorded read cannot hide either (git's "racy clean" rule).

A generated DAG file's state (inode, size, modification time) is kept with the fingerprint
its header holds (`outputs.pickle`), so an unchanged output is not read either.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from compiler.cache.store import read, write
from compiler.output import existing_fingerprint

RACY_SECONDS = 2.0  # a file state this young may still change within the same clock tick

#: inode, size, modification and change time (ns)
State = tuple[int, int, int, int]


def state_of(info: os.stat_result) -> State:
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class SpecStates:
    """Spec file path → its last settled state and the digest of its bytes then."""

    def __init__(self, folder: Path, tool: str) -> None:
        self.path = folder / "states.pickle"
        self.tool = tool
        known = read(self.path)
        self.states: dict[str, tuple[State, str]] = (
            known[1]
            if isinstance(known, tuple)
            and len(known) == 2
            and known[0] == tool
            and isinstance(known[1], dict)
            else {}
        )
        self.dirty = False
        self.seen: set[str] = set()
        self.settled = time.time_ns() - int(RACY_SECONDS * 1e9)

    def digest(self, path: str, state: State) -> str | None:
        """The digest of the file's bytes, when its state is the one recorded with it."""
        known = self.states.get(path)
        return known[1] if known is not None and known[0] == state else None

    def record(self, path: str, state: State, digest: str) -> None:
        """The file was read in `state` and its bytes hashed to `digest`: recorded once the
        state is settled; an unsettled one forgets what was known."""
        if state[3] < self.settled:
            self.states[path] = (state, digest)
            self.dirty = True
        elif path in self.states:
            del self.states[path]
            self.dirty = True

    def save(self) -> None:
        """Store the states, forgetting files deleted or renamed since (when any were seen)."""
        gone = self.states.keys() - self.seen
        if gone and self.seen:
            for path in gone:
                del self.states[path]
            self.dirty = True
        if self.dirty:
            write(self.path, (self.tool, self.states))
            self.dirty = False


class OutputStates:
    """Generated file path → its state when last read or written, and its fingerprint."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "outputs.pickle"
        known = read(self.path)
        self.states: dict[str, tuple[tuple[int, int, int], str]] = (
            known if isinstance(known, dict) else {}
        )
        self.dirty = False

    def existing(self, path: Path) -> str | None:
        """`output.existing_fingerprint`, skipped when the file has not changed since it was
        last read or written (same inode, size and modification time)."""
        try:
            info = path.stat()
        except OSError:
            return None
        state = (info.st_ino, info.st_size, info.st_mtime_ns)
        known = self.states.get(str(path))
        if known is not None and known[0] == state:
            return known[1]
        found = existing_fingerprint(path)
        if found is not None:
            self.states[str(path)] = (state, found)
            self.dirty = True
        return found

    def written(
        self, out: Path, fingerprints: dict[str, str], names: Iterable[str] | None = None
    ) -> None:
        """After a write: the state of every DAG file now in `out` (and none of those gone);
        with `names`, only those files were written or removed."""
        folder = str(out) + os.sep
        if names is None:
            self.states = {k: v for k, v in self.states.items() if not k.startswith(folder)}
        else:
            names = list(names)
            for name in names:
                self.states.pop(str(out / name), None)
            fingerprints = {n: fingerprints[n] for n in names if n in fingerprints}
        for name, fp in fingerprints.items():
            path = out / name
            try:
                info = path.stat()
            except OSError:
                continue
            self.states[str(path)] = ((info.st_ino, info.st_size, info.st_mtime_ns), fp)
        self.dirty = True

    def save(self) -> None:
        if self.dirty:
            write(self.path, self.states)
            self.dirty = False
