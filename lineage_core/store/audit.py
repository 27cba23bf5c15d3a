"""The audit trail's table (``audit``): one row per write through the server — who (a token's *name*, never the
token), what (the route, the key/run/digest it named, the namespaces it touched), when, and the outcome.

Text is stored printable and bounded (control characters and lone surrogates become U+FFFD, long values are
cut), so whatever a request named, its row can be written on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import schema as t
from .base import driver_insert

if TYPE_CHECKING:
    from .metadata import Store

MAX_LIMIT = 10_000
_COLUMNS = ("at", "token", "action", "route", "target", "namespace", "status", "outcome")


def outcome_of(status: int) -> str:
    """``ok`` (2xx/3xx), ``denied`` (401/403), ``refused`` (another 4xx) or ``error`` (5xx)."""
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "denied"
    return "refused" if status < 500 else "error"


@dataclass(frozen=True)
class AuditRecord:
    token: str
    action: str
    route: str
    status: int
    target: str | None = None
    namespace: str | None = None
    at: float = 0.0  # 0: now, when recorded
    outcome: str = ""  # "": from the status

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value[:limit]
    return value if value.isprintable() else "".join(ch if ch.isprintable() else "\ufffd" for ch in value)


class AuditLog:
    """The audit rows of one store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, rec: AuditRecord) -> None:
        with self._store.engine.begin() as c:
            self.record_in(c, rec)

    def record_in(self, conn: sa.Connection, rec: AuditRecord) -> None:
        """The row, in the caller's transaction (the server's hit writes it with the run it records)."""
        row = {
            "at": rec.at or time.time(), "token": _text(rec.token, 64), "action": _text(rec.action, 64),
            "route": _text(rec.route, 255), "target": _text(rec.target, 1024), "namespace": _text(rec.namespace, 1024),
            "status": rec.status, "outcome": rec.outcome or outcome_of(rec.status),
        }
        driver_insert(conn, t.audit, _COLUMNS, row)

    def prune(self, before: float) -> int:
        """Remove the rows older than ``before`` (epoch seconds): the trail's retention, run by an admin (and itself
        recorded by whoever runs it). How many rows went."""
        with self._store.engine.begin() as c:
            return int(c.execute(sa.delete(t.audit).where(t.audit.c.at < before)).rowcount or 0)

    def query(self, token: str | None = None, action: str | None = None, since: float | None = None,
              limit: int = 100) -> list[AuditRecord]:
        """Rows newest first, filtered by token name, action and time (``at >= since``); 1 <= limit <= 10,000."""
        a = t.audit.c
        q = sa.select(a.token, a.action, a.route, a.status, a.target, a.namespace, a.at, a.outcome)
        for column, value in ((a.token, token), (a.action, action)):
            if value is not None:
                q = q.where(column == _text(value, 255))
        if since is not None:
            q = q.where(a.at >= since)
        q = q.order_by(a.at.desc(), a.id.desc()).limit(min(max(int(limit), 1), MAX_LIMIT))
        with self._store.engine.connect() as c:
            return [AuditRecord(*row) for row in c.execute(q)]
