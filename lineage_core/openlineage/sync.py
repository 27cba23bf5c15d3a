"""Our own runs, as OpenLineage events, in our own store's lineage tables.

Every cached run is recorded in ``runs`` on the hot path; its events are built from that record and
ingested here, off the hot path, so the lineage API, the Marquez-compatible read API and
``lineage lineage`` show cached steps next to what other producers sent — whether or not an
OpenLineage transport is configured. The sync reads only runs that started or finished since a
watermark (minus a lag that covers slow writers and clock skew between workers); re-reading is
harmless because ingest is idempotent and a run already finished in the lineage tables is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from ..runs import RunStatus
from ..store.ol_sync import SyncLedger
from .ingest import derived_checked, ensure_derived, ingest
from .records import run_events

if TYPE_CHECKING:
    from ..store import Store

SOURCE = "runs"
LAG = 120.0  # seconds re-read behind the watermark
_CHUNK = 500
log = logging.getLogger(__name__)
_warned: set[str] = set()  # runs already reported (the sync re-reads the last LAG seconds)
_TERMINAL = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.ABORTED}
_lock = threading.Lock()
_last: dict[str, float] = {}


def sync_runs(store: Store) -> int:
    """Ingest the events of runs that started or finished since the last sync; returns how many runs."""
    ensure_derived(store)
    ledger = SyncLedger(store)
    since = ledger.watermark(SOURCE) - LAG
    rows = sorted(ledger.runs_changed(since), key=lambda r: max(r.started_at, r.ended_at or 0.0))
    synced = 0
    for i in range(0, len(rows), _CHUNK):
        chunk = rows[i : i + _CHUNK]
        known = ledger.lineage_states([r.id for r in chunk])
        events: list[dict[str, Any]] = []
        for r in chunk:
            state = known.get(r.id)
            if state in _TERMINAL or (state == RunStatus.RUNNING and r.status == RunStatus.RUNNING):
                continue  # nothing new since it was ingested
            run = run_events(store, r.id)
            events += run[1:] if state == RunStatus.RUNNING else run
            synced += 1
        if events:  # a run whose events no store can take (a name too long to index) is left out, loudly
            for i, problem in ingest(store, events, skip_invalid=True).skipped.items():
                run_id = str(events[i]["run"]["runId"])
                if run_id not in _warned:
                    _warned.add(run_id)
                    log.warning("run %s is not in the lineage tables: its event is not valid OpenLineage (%s)",
                                run_id, problem)
        ledger.advance(SOURCE, max(max(r.started_at, r.ended_at or 0.0) for r in chunk))
    return synced


def sync_due(store: Store, every: float = 1.0) -> bool:
    """Whether :func:`sync_runs_throttled` would do anything now: a read path asks on the event loop (no I/O) and
    only then hands the sync to a thread."""
    return not derived_checked(store) or time.monotonic() - _last.get(store.url, -every) >= every


def sync_runs_throttled(store: Store, every: float = 1.0) -> None:
    """What a read path calls: at most one sync per ``every`` seconds per store, one at a time (after the derived
    tables are current: a store just upgraded is rebuilt first, whichever thread gets here)."""
    ensure_derived(store)
    now = time.monotonic()
    if now - _last.get(store.url, -every) < every or not _lock.acquire(blocking=False):
        return
    try:
        sync_runs(store)
        _last[store.url] = time.monotonic()
    finally:
        _lock.release()
