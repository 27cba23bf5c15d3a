"""Lease rows for single-flight: who is computing a key, until when (see lineage_core.singleflight)."""

from __future__ import annotations

import time

import sqlalchemy as sa

from . import schema as t
from .base import StoreBase


class LeaseMixin(StoreBase):
    def try_acquire(self, key: str, owner: str, ttl: float) -> tuple[bool, str | None]:
        """Take the lease on ``key`` if nobody holds it or its holder's lease expired.

        Returns (acquired, previous owner whose expired lease was taken over). Both paths are single
        atomic statements, so two contenders can never both win.
        """
        now = time.time()
        lc = t.leases.c
        with self.engine.begin() as c:
            row = {"key": key, "owner": owner, "acquired_at": now, "expires_at": now + ttl}
            # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING
            if c.execute(self._insert_or_ignore(t.leases).returning(lc.owner), row).first() is not None:
                return True, None
            prev = c.execute(sa.select(lc.owner).where(lc.key == key, lc.expires_at < now)).scalar()
            if prev is None:
                return False, None
            took = c.execute(
                t.leases.update()
                .where(lc.key == key, lc.owner == prev, lc.expires_at < now)
                .values(owner=owner, acquired_at=now, expires_at=now + ttl)
            ).rowcount
            return took == 1, prev if took == 1 else None

    def renew(self, key: str, owner: str, ttl: float) -> bool:
        lc = t.leases.c
        with self._statement() as c:
            q = t.leases.update().where(lc.key == key, lc.owner == owner).values(expires_at=time.time() + ttl)
            return bool(c.execute(q).rowcount == 1)

    def release(self, key: str, owner: str) -> None:
        with self.engine.begin() as c:
            c.execute(t.leases.delete().where(t.leases.c.key == key, t.leases.c.owner == owner))

    def lease(self, key: str) -> tuple[str, float] | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(t.leases.c.owner, t.leases.c.expires_at).where(t.leases.c.key == key)).first()
        return (row[0], row[1]) if row else None
