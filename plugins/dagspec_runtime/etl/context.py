"""What every gate needs: the parsed config, the run folder, and the three databases
(meta-log, sink, source), resolved once per task."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dagspec_runtime.etl.config import ProcessConfig
from dagspec_runtime.etl.runfolder import run_dir
from dagspec_runtime.metalog.engine import Lookup, engine_for, resolve_meta_url
from dagspec_runtime.metalog.ledger import Ledger


@dataclass
class GateContext:
    cfg: ProcessConfig
    run_id: str
    dir: Path
    meta: sa.Engine
    sink: sa.Engine
    source_url: str
    ledger: Ledger

    def source(self) -> sa.Engine:
        return engine_for(self.source_url)

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)


def _url_for(conn_id: str | None, fallback: str, lookup: Lookup | None = None) -> str:
    if not conn_id:
        return fallback
    return resolve_meta_url(conn_id, None, lookup=lookup)


def make_context(
    process: dict[str, Any] | ProcessConfig,
    run_id: str,
    *,
    meta_url: str,
    run_root: str | os.PathLike[str] | None = None,
    lookup: Lookup | None = None,
) -> GateContext:
    """Sink and source default to the meta database when they name no connection."""
    cfg = process if isinstance(process, ProcessConfig) else ProcessConfig.parse(process)
    meta = engine_for(meta_url)
    sink_url = _url_for(cfg.sink_conn_id, meta_url, lookup)
    source_url = _url_for(cfg.source.conn_id, sink_url, lookup)
    return GateContext(
        cfg=cfg,
        run_id=run_id,
        dir=run_dir(run_root, cfg.name, run_id),
        meta=meta,
        sink=engine_for(sink_url),
        source_url=source_url,
        ledger=Ledger(meta, cfg.name),
    )
