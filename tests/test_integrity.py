"""Integrity that a local change cannot fool: the stat identity (device, inode, size, mtime_ns, ctime_ns),
bounded reads of regular files only, verify="always", and the `lineage cache verify` scrub."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from lineage_core.store import Store
from lineage_core.store import schema as t
from lineage_core.store.metadata import _MIGRATIONS, HEAD_REVISION


def test_a_store_at_0005_migrates_and_its_old_stat_rows_are_a_miss(
    backend: str, tmp_path: Path, lineage_home: Path
) -> None:
    lineage_home.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(backend)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
        conn.execute(sa.text(
            "INSERT INTO stat_cache (path, size, mtime_ns, inode, hash, schema) VALUES ('/x', 1, 2, 3, 'h', 1)"
        ))
    engine.dispose()
    store = Store.from_url(backend, (tmp_path / "art").as_uri())
    try:
        assert store.current_revision() == HEAD_REVISION  # 0006 or later
        with store.engine.connect() as c:
            row = c.execute(sa.select(t.stat_cache.c.device, t.stat_cache.c.ctime_ns)).one()
        assert tuple(row) == (None, None)
        assert store.get_many(["/x"]) == {} and store.get_under("/") == {}  # never trusted: a miss
    finally:
        store.close()
