"""Incremental analysis: what a compile learnt, kept under `.dagspec/cache/` for the next one.

- `store`: the folder, safe pickle reads and atomic writes, the compiler's digest, `enabled()`;
- `files`: the states of spec and output files, so unchanged files are not read again;
- `documents`: spec files known from the cache, parsed only when their data is needed;
- `entries`: each file's load and check, each spec's plan and its DAG files' fingerprints,
  and the checked project config.

The project-wide checks (duplicate names, the entity list, artifact wiring, cycles) still run
over every spec on every analysis, fed from the entries; the cache only saves time: a compile
with or without it writes the same bytes. Safe to delete. `DAGSPEC_CACHE=0` turns it off.
"""

from __future__ import annotations

from compiler.cache.documents import LazyDocument, SourceChanged
from compiler.cache.entries import Cache, known_config, remember_config
from compiler.cache.store import enabled

__all__ = [
    "Cache",
    "LazyDocument",
    "SourceChanged",
    "enabled",
    "known_config",
    "remember_config",
]
