"""The per-process engine cache releases what it drops.

A run process meets many meta-log URLs (a test session: one PostgreSQL database per test). An
engine dropped from the cache used to keep its pooled connections open until the garbage
collector reached it, and on PostgreSQL they count against `max_connections` ("sorry, too
many clients already" in a later test under load).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from dagspec_runtime.metalog.engine import MAX_ENGINES, close_idle, engine_for


def _use(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def test_an_engine_dropped_from_the_cache_closes_its_idle_connections(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / f'meta{i}.sqlite'}" for i in range(MAX_ENGINES + 1)]
    first = engine_for(urls[0])
    _use(first)
    assert first.pool.checkedin() == 1  # pooled, idle
    for url in urls[1:]:
        _use(engine_for(url))
    assert first.pool.checkedin() == 0  # dropped (least recently used) and disposed
    assert engine_for(urls[-1]) is engine_for(urls[-1])  # the kept ones are reused
    _use(first)  # an engine someone still holds keeps working on a fresh pool
    assert engine_for(urls[0]) is not first


def test_a_recently_used_engine_is_kept(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / f'meta{i}.sqlite'}" for i in range(MAX_ENGINES + 1)]
    first = engine_for(urls[0])
    for url in urls[1:-1]:
        engine_for(url)
    assert engine_for(urls[0]) is first  # used again: now the most recent
    engine_for(urls[-1])  # drops urls[1], not urls[0]
    assert engine_for(urls[0]) is first


def test_close_idle_closes_pooled_connections_and_engines_keep_working(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'meta.sqlite'}")
    _use(engine)
    assert engine.pool.checkedin() == 1
    close_idle()
    assert engine.pool.checkedin() == 0
    _use(engine)
    assert engine_for(f"sqlite:///{tmp_path / 'meta.sqlite'}") is engine
