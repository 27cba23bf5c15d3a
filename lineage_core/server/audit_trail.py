"""The audit trail: an ASGI middleware that records every write a route took (any method but GET/HEAD/OPTIONS)
as one row of :class:`~lineage_core.store.audit.AuditLog` — the token's name, the route, what it named, the
namespaces, the status and its outcome, refusals (401/403/4xx) and failures (5xx) included.

The route's scope dependency (:class:`~.auth.Need`) and the route fill the request's
:class:`~.auth.AuditNote`; the row is written before the answer leaves, so no client sees a write succeed
that the trail does not hold. A route declaring :func:`~.auth.not_audited` records only its refusals and
failures (lease heartbeats, a lookup sent as POST). A route may write its own row, in the transaction of the
change it records (the hit: server.store_hits), and mark the note ``recorded``. A row that cannot be written is
logged (never the token) and the answer still goes.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi.concurrency import run_in_threadpool

from ..store.audit import AuditLog, AuditRecord
from .auth import AUDIT_KEY, AuditNote

log = logging.getLogger("lineage_core.server.audit")
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuditTrail:
    def __init__(self, app: Any, trail: AuditLog) -> None:
        self.app = app
        self.trail = trail

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in _READS:
            await self.app(scope, receive, send)
            return
        note = AuditNote()
        answered = False

        async def send_after_recording(message: Any) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                await self._record(note, int(message["status"]))
            await send(message)

        try:
            await self.app({**scope, AUDIT_KEY: note}, receive, send_after_recording)
        except Exception:
            if not answered:
                await self._record(note, 500)
            raise

    async def _record(self, note: AuditNote, status: int) -> None:
        record = row_of(note, status)
        if record is None:
            return
        try:
            await run_in_threadpool(self.trail.record, record)
        except Exception as e:  # noqa: BLE001 - the write is done; its answer must still go
            log.error("audit row not recorded for %s by %s (status %d): %s", note.route, note.token, status,
                      type(e).__name__)


def row_of(note: AuditNote, status: int) -> AuditRecord | None:
    """The row a request's note makes with this status; None when nothing is recorded (no route took the request,
    a route that is not audited answered below 400, or the route wrote its row itself)."""
    if note.action is None or note.recorded or (note.skip and status < 400):
        return None
    return AuditRecord(note.token, note.action, note.route, status, note.target,
                       ",".join(sorted(note.namespaces)) or None)
