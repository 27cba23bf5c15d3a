"""The raw OpenLineage events (``ol_events``) as a log: counted, paged for the events API, and replayed in
order for an export.

Replay pages by keys — (event time, phase order, id) — not by OFFSET, so reading a million events costs
a million rows once, and memory stays flat whatever the size of the log. Within one instant START sorts
before RUNNING before OTHER before the terminal events, so a consumer never sees a run end before it began.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..runs import EventType
from . import schema as t
from .ol_read import Page

if TYPE_CHECKING:
    from .metadata import Store

_ORDER = sa.case({EventType.START.value: 0, EventType.RUNNING.value: 1, EventType.OTHER.value: 2},
                 value=t.ol_events.c.event_type, else_=3)


class EventLog:
    """The stored events of one store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def count(self, after: float | None = None) -> int:
        """How many events there are (at or after ``after``, if given)."""
        ec = t.ol_events.c
        q = sa.select(sa.func.count()).select_from(t.ol_events)
        with self._store.engine.connect() as c:
            return int(c.execute(q.where(ec.event_time >= after) if after is not None else q).scalar_one())

    def page(self, after: float, before: float, ascending: bool, limit: int, offset: int) -> Page[dict[str, Any]]:
        """RunEvent payloads with ``after <= event time < before``, oldest or newest first, and how many events of
        any kind there are, as Marquez's events API answers (it lists RunEvents only and counts every event)."""
        ec = t.ol_events.c
        where = sa.and_(ec.event_time >= after, ec.event_time < before)
        order = ec.event_time.asc() if ascending else ec.event_time.desc()
        with self._store.engine.connect() as c:
            total = c.execute(sa.select(sa.func.count()).select_from(t.ol_events).where(where)).scalar_one()
            rows = c.execute(sa.select(ec.payload).where(where, ec.kind == "RunEvent").order_by(order, ec.id)
                             .limit(limit).offset(offset))
            return Page(int(total), [r[0] for r in rows])

    def replay(self, after: float | None = None, page: int = 1000) -> Iterator[tuple[float, dict[str, Any]]]:
        """(event time, payload) in replay order, ``page`` events per query, each query on its own connection."""
        ec = t.ol_events.c
        last: tuple[float, int, str] | None = None
        while True:
            q = sa.select(ec.event_time, _ORDER.label("o"), ec.id, ec.payload)
            if after is not None:
                q = q.where(ec.event_time >= after)
            if last is not None:
                q = q.where(sa.tuple_(ec.event_time, _ORDER, ec.id) > sa.tuple_(*last))
            with self._store.engine.connect() as c:
                rows = c.execute(q.order_by(ec.event_time, _ORDER, ec.id).limit(page)).all()
            for when, order, event_id, payload in rows:
                last = (when, order, event_id)
                yield when, payload
            if len(rows) < page:
                return
