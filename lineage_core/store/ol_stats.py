"""The dashboard's counts (Marquez's ``StatsDao``): lineage events by type per interval, and the running totals
of jobs, datasets and sources created by the end of each interval — one grouped statement each, however many
rows, the intervals given as their bounds (seconds since the epoch, ascending)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa

from . import schema as t

if TYPE_CHECKING:
    from .metadata import Store

COUNTED = ("START", "COMPLETE", "FAIL", "ABORT")  # the event types the dashboard charts
_CREATED = {"jobs": t.ol_jobs.c.created_at, "datasets": t.ol_datasets.c.created_at,
            "sources": t.ol_sources.c.created_at}


def _bucket(col: sa.ColumnElement[float], bounds: list[float]) -> sa.ColumnElement[int]:
    """Which interval a time falls in: -1 before the first, ``i`` for ``[bounds[i], bounds[i + 1])``."""
    return sa.case((col < bounds[0], -1), *[(col < b, i) for i, b in enumerate(bounds[1:])], else_=len(bounds) - 1)


def event_counts(store: Store, bounds: list[float]) -> list[dict[str, int]]:
    """Per interval, how many events of each counted type have an event time in it."""
    ec = t.ol_events.c
    bucket = _bucket(ec.event_time, bounds)
    q = (sa.select(bucket, ec.event_type, sa.func.count())
         .where(ec.event_time >= bounds[0], ec.event_time < bounds[-1], ec.event_type.in_(COUNTED))
         .group_by(bucket, ec.event_type))
    out = [dict.fromkeys(COUNTED, 0) for _ in bounds[1:]]
    with store.engine.connect() as c:
        for i, kind, n in c.execute(q):
            out[int(i)][str(kind)] = int(n)
    return out


def running_totals(store: Store, what: Literal["jobs", "datasets", "sources"], bounds: list[float]) -> list[int]:
    """Per interval, how many of ``what`` were created before its end (those created before the first included)."""
    col = _CREATED[what]
    bucket = _bucket(col, bounds)
    q = sa.select(bucket, sa.func.count()).select_from(col.table).where(col < bounds[-1]).group_by(bucket)
    per = dict.fromkeys(range(-1, len(bounds) - 1), 0)
    with store.engine.connect() as c:
        for i, n in c.execute(q):
            per[int(i)] = int(n)
    totals, running = [], per[-1]
    for i in range(len(bounds) - 1):
        running += per[i]
        totals.append(running)
    return totals
