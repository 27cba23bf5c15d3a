"""What a scrub (``lineage cache verify``) needs from the database: the artifacts live entries hold, and
tombstoning the entries whose artifact turned out to be damaged."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from . import schema as t
from .base import StoreBase


class IntegrityMixin(StoreBase):
    def live_artifacts(self) -> list[dict[str, Any]]:
        """Every artifact a live (not tombstoned) entry holds, once each, by hash: ``hash``, ``size`` (as
        recorded when it was stored), ``meta`` (a tree's ``members`` are blobs too) and ``entries`` (how many
        live entries hold it)."""
        ce, a = t.cache_entries.c, t.artifacts.c
        counts = (
            sa.select(ce.artifact_hash, sa.func.count().label("entries"))
            .where(ce.tombstoned_at.is_(None))
            .group_by(ce.artifact_hash)
            .subquery()
        )
        q = sa.select(a.hash, a.size, a.meta, counts.c.entries).join(counts, counts.c.artifact_hash == a.hash)
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(q.order_by(a.hash))]
        for r in rows:
            r["meta"] = r["meta"] or {}
        return rows

    def tombstone_artifact(self, digest: str) -> int:
        """Tombstone every live entry that holds artifact ``digest`` (the next call recomputes); how many."""
        ce = t.cache_entries.c
        q = (
            t.cache_entries.update()
            .where(ce.artifact_hash == digest, ce.tombstoned_at.is_(None))
            .values(tombstoned_at=time.time())
        )
        with self.engine.begin() as c:
            return c.execute(q).rowcount or 0
