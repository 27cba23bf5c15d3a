"""The bookkeeping of syncing our own runs into the OpenLineage tables: a watermark per source
(``ol_sync``), which runs changed since a time, and which of them the lineage tables already know.

What to re-read and when is :mod:`lineage_core.openlineage.sync`'s policy; this module only answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import sqlalchemy as sa

from . import schema as t

if TYPE_CHECKING:
    from .metadata import Store

_BATCH = 500


class RunChange(NamedTuple):
    id: str
    status: str
    started_at: float
    ended_at: float | None


class SyncLedger:
    """Watermarks and run states for one store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def watermark(self, source: str) -> float:
        """How far ``source`` was synced (0.0 before its first sync)."""
        sc = t.ol_sync.c
        with self._store.engine.connect() as c:
            return float(c.execute(sa.select(sc.watermark).where(sc.source == source)).scalar() or 0.0)

    def runs_changed(self, since: float) -> list[RunChange]:
        """Our runs that started or finished after ``since``."""
        rc = t.runs.c
        q = sa.select(rc.id, rc.status, rc.started_at, rc.ended_at).where(
            sa.or_(rc.started_at > since, rc.ended_at > since))
        with self._store.engine.connect() as c:
            return [RunChange(*r) for r in c.execute(q)]

    def lineage_states(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The state the lineage tables hold for each of these runs (absent: not ingested yet)."""
        oc = t.ol_runs.c
        states: dict[str, str] = {}
        with self._store.engine.connect() as c:
            for i in range(0, len(run_ids), _BATCH):
                q = sa.select(oc.run_id, oc.state).where(oc.run_id.in_(run_ids[i : i + _BATCH]))
                states.update({run_id: state for run_id, state in c.execute(q)})
        return states

    def advance(self, source: str, mark: float) -> None:
        """Move the watermark forward (never back: concurrent syncs may finish out of order)."""
        sc = t.ol_sync.c
        stmt = self._store._insert(t.ol_sync)
        newer = sa.case((sc.watermark < stmt.excluded.watermark, stmt.excluded.watermark), else_=sc.watermark)
        stmt = stmt.on_conflict_do_update(index_elements=["source"], set_={"watermark": newer})
        with self._store.engine.begin() as c:
            c.execute(stmt, {"source": source, "watermark": mark})
