"""Where the cache keeps its files under the project, and how it reads and writes them.

Every write is a temporary file renamed into place, so concurrent compiles see whole files; a
file that cannot be read is a miss. Only plain data and the compiler's own value types
unpickle, so no code runs from the cache. `DAGSPEC_CACHE=0` turns the cache off.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from compiler import dag as dag_types
from compiler.resources import resource_dir

#: the layout of the cache's files; part of every key, so a new layout starts afresh
VERSION = "4"
FOLDER = Path(".dagspec") / "cache"
PACKAGE = Path(__file__).resolve().parents[1]  # the compiler's sources
_ALLOWED = {
    ("compiler.findings", "Finding"),
    ("compiler.findings", "Severity"),
    ("compiler.render", "Code"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    *(("compiler.dag", name) for name in dag_types.__all__),
}


def enabled() -> bool:
    """Whether the cache is on (`DAGSPEC_CACHE` unset, or anything but 0/off/no/false)."""
    return os.environ.get("DAGSPEC_CACHE", "1") not in ("0", "off", "no", "false")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in the cache")
        return super().find_class(module, name)


def read(path: Path) -> object:
    """The object stored at `path`, or None when it is missing or unreadable in any way."""
    try:
        with path.open("rb") as handle:
            value: object = _Unpickler(io.BufferedReader(handle)).load()
            return value
    except Exception:  # a damaged entry is a miss
        return None


def loads(data: bytes) -> object:
    """The object pickled in `data`, or None (as `read`)."""
    try:
        value: object = _Unpickler(io.BytesIO(data)).load()
        return value
    except Exception:
        return None


def dumps(value: object) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def write(path: Path, value: object) -> None:
    """Write atomically: a reader sees the old file or the new one, never part of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def key_of(*parts: str | bytes) -> str:
    """SHA-256 of the parts, each ended by a NUL byte."""
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(part.encode() if isinstance(part, str) else part)
        hashed.update(b"\0")
    return hashed.hexdigest()


@cache
def tool() -> str:
    """Everything of the compiler itself that its output depends on (its sources, schemas and
    templates, and the cache's layout), hashed: every key starts from it."""
    hashed = hashlib.sha256(VERSION.encode() + b"\0")
    for path in sorted(PACKAGE.rglob("*.py")):
        hashed.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    for folder in (resource_dir("schemas"), resource_dir("templates")):
        for path in sorted(folder.glob("*")):
            if path.is_file() and path.suffix in (".json", ".j2"):
                hashed.update(path.name.encode() + b"\0" + path.read_bytes())
    return hashed.hexdigest()
