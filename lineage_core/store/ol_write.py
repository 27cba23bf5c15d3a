"""Writes to the OpenLineage tables (``ol_*``): raw events and the rows derived from them, in one transaction.

Ingest stores a batch of events and folds them into jobs, runs, datasets, dataset versions and edges
all or nothing: a :class:`LineageWriter` is one transaction (:func:`write_lineage`), and the caller
(:mod:`lineage_core.openlineage.ingest`, :mod:`lineage_core.openlineage.derive`) decides what to write.
Reads are keyed and batched, writes are multi-row upserts, so a batch of a hundred events costs about
ten statements on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import schema as t
from .ol_read import Key, by_ids, by_pairs

if TYPE_CHECKING:
    from .metadata import Store

Row = dict[str, Any]
_ROWS = 500  # rows per multi-row INSERT
_JOB_KEY = ["namespace", "name"]
_EDGE_KEY = ["job_namespace", "job_name", "dataset_namespace", "dataset_name", "direction"]


@contextlib.contextmanager
def write_lineage(store: Store) -> Iterator[LineageWriter]:
    """A writer in one transaction of ``store``: everything it wrote commits together, or nothing does."""
    with store.engine.begin() as c:
        yield LineageWriter(store, c)


class LineageWriter:
    """The statements of ingest and derivation, in one transaction (see :func:`write_lineage`)."""

    def __init__(self, store: Store, conn: sa.Connection) -> None:
        self._store = store
        self._c = conn

    # -- raw events -------------------------------------------------------------------------------
    def stored_event_ids(self, ids: Sequence[str]) -> list[str]:
        """Which of these event ids are stored already."""
        ec = t.ol_events.c
        seen: list[str] = []
        for i in range(0, len(ids), _ROWS):
            seen += [r[0] for r in self._c.execute(sa.select(ec.id).where(ec.id.in_(ids[i : i + _ROWS])))]
        return seen

    def add_events(self, rows: list[Row]) -> None:
        """Store raw events (rows of ``ol_events``); one already stored is left as it is."""
        for i in range(0, len(rows), _ROWS):
            self._c.execute(self._store._insert_or_ignore(t.ol_events), rows[i : i + _ROWS])

    def event_payloads(self) -> list[dict[str, Any]]:
        """Every stored event, in event-time order (what the derived tables are rebuilt from)."""
        ec = t.ol_events.c
        return [r[0] for r in self._c.execute(sa.select(ec.payload).order_by(ec.event_time, ec.id))]

    # -- derived rows -----------------------------------------------------------------------------
    def jobs(self, keys: Sequence[Key]) -> dict[Key, Row]:
        jc = t.ol_jobs.c
        return {(r.namespace, r.name): dict(r._mapping)
                for r in by_pairs(self._c, sa.select(t.ol_jobs), (jc.namespace, jc.name), keys)}

    def datasets(self, keys: Sequence[Key]) -> dict[Key, Row]:
        dc = t.ol_datasets.c
        return {(r.namespace, r.name): dict(r._mapping)
                for r in by_pairs(self._c, sa.select(t.ol_datasets), (dc.namespace, dc.name), keys)}

    def runs(self, run_ids: Sequence[str]) -> dict[str, Row]:
        return {r.run_id: dict(r._mapping) for r in by_ids(self._c, sa.select(t.ol_runs), t.ol_runs.c.run_id, run_ids)}

    def add_jobs(self, rows: list[Row]) -> None:
        """Jobs that must exist (a parent named by a child); one that exists already is left as it is."""
        self._insert(t.ol_jobs, rows, None)

    def put_jobs(self, rows: list[Row]) -> None:
        self._insert(t.ol_jobs, rows, _JOB_KEY)

    def put_runs(self, rows: list[Row]) -> None:
        self._insert(t.ol_runs, rows, ["run_id"])

    def put_datasets(self, rows: list[Row]) -> None:
        self._insert(t.ol_datasets, rows, _JOB_KEY)

    def add_versions(self, rows: list[Row]) -> None:
        """Dataset versions; a version is written once, by the first run that wrote it."""
        self._insert(t.ol_dataset_versions, rows, None)

    def put_edges(self, rows: list[Row]) -> None:
        """Job<->dataset edges; one that exists only learns its latest run."""
        self._insert(t.ol_edges, rows, _EDGE_KEY, only=["last_run_id", "updated_at"])

    def clear_derived(self) -> None:
        """Delete every derived row (the raw events stay): the first step of a rebuild."""
        for table in (t.ol_edges, t.ol_dataset_versions, t.ol_datasets, t.ol_runs, t.ol_jobs):
            self._c.execute(table.delete())

    def _insert(self, table: sa.Table, rows: list[Row], pk: list[str] | None, only: list[str] | None = None) -> None:
        """Multi-row INSERT; on a key conflict update (``pk``: every other column, or ``only``) or ignore."""
        if not rows:
            return
        stmt = self._store._insert(table)
        if pk is None:
            stmt = stmt.on_conflict_do_nothing()
        else:
            cols = only or [col.name for col in table.columns if col.name not in pk]
            stmt = stmt.on_conflict_do_update(index_elements=pk, set_={col: stmt.excluded[col] for col in cols})
        names = [col.name for col in table.columns]
        for i in range(0, len(rows), _ROWS):
            self._c.execute(stmt, [{n: r.get(n) for n in names} for r in rows[i : i + _ROWS]])
