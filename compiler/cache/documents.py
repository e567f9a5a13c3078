"""Spec files known from the cache: documents parsed only when their data is asked for."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from compiler.loader import Document, SourceMap, load_bytes


class SourceChanged(Exception):
    """A spec file whose bytes are no longer those the cache knew it by: it changed while the
    compile ran (see `LazyDocument.raw`)."""

    def __init__(self, file: str) -> None:
        super().__init__(file)
        self.file = file


class LazyDocument:
    """A `Document` whose data and source map are parsed from its bytes only when asked for.

    Without `raw`, the bytes are read from `path` when first needed, and must be those whose
    SHA-256 the file's state vouched for (`digest`); else the file changed meanwhile
    (`SourceChanged`). Two lazy documents are equal only when they are the same object."""

    def __init__(self, file: str, raw: bytes | None, path: str = "", digest: str = "") -> None:
        self.file = file
        self._raw, self._path, self._digest = raw, path, digest
        self._parsed: Document | None = None

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            try:
                raw = Path(self._path).read_bytes()
            except OSError:
                raise SourceChanged(self.file) from None
            if hashlib.sha256(raw).hexdigest() != self._digest:
                raise SourceChanged(self.file)
            self._raw = raw
        return self._raw

    @property
    def data(self) -> Any:
        return self._load().data

    @property
    def marks(self) -> SourceMap:
        return self._load().marks

    def _load(self) -> Document:
        if self._parsed is None:
            parsed, _ = load_bytes(self.raw, self.file)
            if parsed is None:  # the entry said these bytes load; they always do
                raise RuntimeError(f"{self.file} no longer loads")
            self._parsed = parsed
        return self._parsed
