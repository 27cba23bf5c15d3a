"""Our own runs, as OpenLineage events, in our own store's lineage tables.

Every cached run is recorded in ``runs`` on the hot path; its events are built from that record and
ingested here, off the hot path, so the lineage API, the Marquez-compatible read API and
``lineage lineage`` show cached steps next to what other producers sent — whether or not an
OpenLineage transport is configured. The sync reads only runs that started or finished since a
watermark (minus a lag that covers slow writers and clock skew between workers); re-reading is
harmless because ingest is idempotent and a run already finished in the lineage tables is skipped.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..store import schema as t
from .ingest import ingest
from .records import run_events

if TYPE_CHECKING:
    from ..store import Store

SOURCE = "runs"
LAG = 120.0  # seconds re-read behind the watermark
_CHUNK = 500
_TERMINAL = {"COMPLETED", "FAILED", "ABORTED"}
_lock = threading.Lock()
_last: dict[str, float] = {}


def sync_runs(store: Store) -> int:
    """Ingest the events of runs that started or finished since the last sync; returns how many runs."""
    rc, oc, sc = t.runs.c, t.ol_runs.c, t.ol_sync.c
    with store.engine.connect() as c:
        mark = c.execute(sa.select(sc.watermark).where(sc.source == SOURCE)).scalar() or 0.0
        since = mark - LAG
        rows = sorted(c.execute(
            sa.select(rc.id, rc.status, rc.started_at, rc.ended_at)
            .where(sa.or_(rc.started_at > since, rc.ended_at > since))
        ), key=lambda r: max(r.started_at, r.ended_at or 0.0))
    synced = 0
    for i in range(0, len(rows), _CHUNK):
        chunk = rows[i : i + _CHUNK]
        with store.engine.connect() as c:
            known = dict(c.execute(sa.select(oc.run_id, oc.state).where(oc.run_id.in_([r.id for r in chunk]))).all())
        events: list[dict[str, Any]] = []
        for r in chunk:
            state = known.get(r.id)
            if state in _TERMINAL or (state == "RUNNING" and r.status == "RUNNING"):
                continue  # nothing new since it was ingested
            run = run_events(store, r.id)
            events += run[1:] if state == "RUNNING" else run
            synced += 1
        if events:
            ingest(store, events)
        _advance(store, max(max(r.started_at, r.ended_at or 0.0) for r in chunk))
    return synced


def _advance(store: Store, mark: float) -> None:
    """Move the watermark forward (never back: concurrent syncs may finish out of order)."""
    sc = t.ol_sync.c
    stmt = store._insert(t.ol_sync)
    newer = sa.case((sc.watermark < stmt.excluded.watermark, stmt.excluded.watermark), else_=sc.watermark)
    stmt = stmt.on_conflict_do_update(index_elements=["source"], set_={"watermark": newer})
    with store.engine.begin() as c:
        c.execute(stmt, {"source": SOURCE, "watermark": mark})


def sync_runs_throttled(store: Store, every: float = 1.0) -> None:
    """What a read path calls: at most one sync per ``every`` seconds per store, one at a time."""
    now = time.monotonic()
    if now - _last.get(store.url, -every) < every or not _lock.acquire(blocking=False):
        return
    try:
        sync_runs(store)
        _last[store.url] = time.monotonic()
    finally:
        _lock.release()
