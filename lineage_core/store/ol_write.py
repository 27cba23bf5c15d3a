"""Writes to the OpenLineage tables (``ol_*``): raw events and the rows derived from them, in one transaction.

Ingest stores a batch of events and folds them into jobs, runs, datasets, dataset versions, the versions each
run read and wrote, edges, column lineage and sources, all or nothing: a :class:`LineageWriter` is one
transaction (:func:`write_lineage`), and the caller (:mod:`lineage_core.openlineage.ingest`,
:mod:`lineage_core.openlineage.derive`) decides what to write. Reads are keyed (one statement per table,
:func:`.ol_read.in_keys`), writes are multi-row upserts in key order.

Derivation reads rows, merges facets into them and writes them back, so two writers folding the same job at
once could each write back what the other has not seen, and a facet would be lost. :meth:`LineageWriter.lock`
serialises them before anything is read: on PostgreSQL, transaction-scoped advisory locks on every job and
dataset the batch touches, taken in sorted order (no two writers can wait on each other), under a shared lock a
rebuild takes exclusively; on SQLite, the database's single write lock, taken first.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import schema as t
from .ol_read import Key, encode, in_keys, statement

if TYPE_CHECKING:
    from .metadata import Store

Row = dict[str, Any]
_ROWS = 500  # rows per multi-row INSERT
_KEY = ["namespace", "name"]
_EDGE_KEY = ["job_namespace", "job_name", "dataset_namespace", "dataset_name", "direction"]
_RUN_VERSION_KEY = ["run_id", "direction", "namespace", "name", "version"]
_REBUILD = "rebuild"  # the ol_sync row that says the derived tables must be rebuilt from the raw events
_EVERYTHING = -0x4C1E  # the advisory lock a rebuild holds exclusively and every ingest shares
DERIVED = (t.ol_column_lineage, t.ol_run_versions, t.ol_sources, t.ol_dataset_symlinks, t.ol_edges,
           t.ol_dataset_versions, t.ol_datasets, t.ol_runs, t.ol_jobs)


def lock_id(kind: str, key: Sequence[str]) -> int:
    """A signed 64-bit advisory lock id for one job or dataset."""
    digest = hashlib.blake2b("\0".join((kind, *key)).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


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
        self.dialect = conn.dialect.name

    # -- serialising writers ----------------------------------------------------------------------
    def lock(self, jobs: Iterable[Key], datasets: Iterable[Key]) -> None:
        """Hold every job and dataset a batch touches until this transaction ends (call it before any read)."""
        if self.dialect != "postgresql":
            self._sqlite_write_lock()
            return
        ids = sorted({lock_id("job", k) for k in jobs} | {lock_id("dataset", k) for k in datasets})
        self._c.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": _EVERYTHING})
        if ids:
            self._c.execute(sa.text("SELECT count(pg_advisory_xact_lock(k)) FROM "
                                    "(SELECT unnest(CAST(:ks AS bigint[])) AS k ORDER BY 1) AS keys"), {"ks": ids})

    def lock_everything(self) -> None:
        """Hold the whole lineage (a rebuild): no ingest derives until this transaction ends."""
        if self.dialect != "postgresql":
            self._sqlite_write_lock()
            return
        self._c.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _EVERYTHING})

    def _sqlite_write_lock(self) -> None:
        # A write first: the driver opens the transaction at the first write, and from then on SQLite's write
        # lock is ours, so the rows read next are the latest and nobody commits over them.
        sc = t.ol_sync.c
        self._c.execute(sa.update(t.ol_sync).where(sc.source == "lock").values(watermark=sc.watermark))

    # -- raw events -------------------------------------------------------------------------------
    def stored_event_ids(self, ids: Sequence[str]) -> list[str]:
        """Which of these event ids are stored already."""
        ec = t.ol_events.c
        if not ids:
            return []
        q = statement(self.dialect, "stored_events", lambda d: sa.select(ec.id).where(in_keys(d, [ec.id])))
        return [r[0] for r in self._c.execute(q, encode([(i,) for i in ids]))]

    def add_events(self, rows: list[Row]) -> None:
        """Store raw events (rows of ``ol_events``); one already stored is left as it is."""
        rows = sorted(rows, key=lambda r: r["id"])
        for i in range(0, len(rows), _ROWS):
            self._c.execute(self._store._insert_or_ignore(t.ol_events), rows[i : i + _ROWS])

    def event_payloads(self) -> list[dict[str, Any]]:
        """Every stored event, in event-time order (what the derived tables are rebuilt from)."""
        ec = t.ol_events.c
        return [r[0] for r in self._c.execute(sa.select(ec.payload).order_by(ec.event_time, ec.id))]

    # -- derived rows, read to be folded --------------------------------------------------------------
    def _keyed(self, table: sa.Table, cols: list[str], keys: Sequence[Sequence[Any]]) -> list[Row]:
        if not keys:
            return []
        q = statement(self.dialect, f"fold_{table.name}",
                      lambda d: sa.select(table).where(in_keys(d, [table.c[c] for c in cols])))
        return [dict(r._mapping) for r in self._c.execute(q, encode(keys))]

    def jobs(self, keys: Sequence[Key]) -> dict[Key, Row]:
        return {(r["namespace"], r["name"]): r for r in self._keyed(t.ol_jobs, _KEY, keys)}

    def datasets(self, keys: Sequence[Key]) -> dict[Key, Row]:
        return {(r["namespace"], r["name"]): r for r in self._keyed(t.ol_datasets, _KEY, keys)}

    def runs(self, run_ids: Sequence[str]) -> dict[str, Row]:
        return {r["run_id"]: r for r in self._keyed(t.ol_runs, ["run_id"], [(i,) for i in run_ids])}

    def run_versions(self, run_ids: Sequence[str]) -> list[Row]:
        rows = self._keyed(t.ol_run_versions, ["run_id"], [(i,) for i in run_ids])
        return sorted(rows, key=lambda r: r["created_at"])

    def versions(self, keys: Sequence[tuple[str, str, str]]) -> list[Row]:
        return self._keyed(t.ol_dataset_versions, ["namespace", "name", "version"], keys)

    # -- derived rows, written ----------------------------------------------------------------------
    def put_jobs(self, rows: list[Row]) -> None:
        self._insert(t.ol_jobs, rows, _KEY)

    def put_runs(self, rows: list[Row]) -> None:
        self._insert(t.ol_runs, rows, ["run_id"])

    def put_datasets(self, rows: list[Row]) -> None:
        self._insert(t.ol_datasets, rows, _KEY)

    def put_current_versions(self, rows: list[Row]) -> None:
        """Datasets a run wrote in an earlier batch and made current now: only their current version changes."""
        self._insert(t.ol_datasets, rows, _KEY, only=["current_version"])

    def put_versions(self, rows: list[Row]) -> None:
        self._insert(t.ol_dataset_versions, rows, ["namespace", "name", "version"])

    def put_run_versions(self, rows: list[Row]) -> None:
        self._insert(t.ol_run_versions, rows, _RUN_VERSION_KEY)

    def clear_current_edges(self, jobs: Sequence[Key]) -> None:
        """These jobs have a new current version: none of their edges is current until it is written again."""
        ec = t.ol_edges.c
        if jobs:
            q = statement(self.dialect, "clear_current", lambda d: sa.update(t.ol_edges).where(
                ec.current, in_keys(d, [ec.job_namespace, ec.job_name])).values(current=False))
            self._c.execute(q, encode(jobs))

    def put_edges(self, rows: list[Row]) -> None:
        """Job<->dataset edges: ``current`` True or False sets it; None leaves an existing edge's as it is (an
        edge first seen is not current: only a job's version makes it so)."""
        self._insert(t.ol_edges, [r for r in rows if r.get("current") is not None], _EDGE_KEY,
                     only=["last_run_id", "updated_at", "current"])
        self._insert(t.ol_edges, [{**r, "current": False} for r in rows if r.get("current") is None], _EDGE_KEY,
                     only=["last_run_id", "updated_at"])

    def put_column_lineage(self, rows: list[Row]) -> None:
        self._insert(t.ol_column_lineage, rows, ["id"],
                     only=["transformation_description", "transformation_type", "updated_at"])

    def add_sources(self, rows: list[Row]) -> None:
        """Data sources; one seen before keeps the time it was first seen."""
        self._insert(t.ol_sources, rows, None)

    def add_symlinks(self, rows: list[Row]) -> None:
        """Other names of datasets (a ``symlinks`` facet's); a name given before keeps the dataset it named."""
        self._insert(t.ol_dataset_symlinks, rows, None)

    # -- rebuilding -------------------------------------------------------------------------------
    def rebuild_pending(self) -> bool:
        sc = t.ol_sync.c
        return self._c.execute(sa.select(sc.source).where(sc.source == _REBUILD)).first() is not None

    def rebuilt(self) -> None:
        """The derived tables are rebuilt: the mark a migration left goes."""
        self._c.execute(t.ol_sync.delete().where(t.ol_sync.c.source == _REBUILD))

    def clear_derived(self) -> None:
        """Delete every derived row (the raw events stay): the first step of a rebuild."""
        for table in DERIVED:
            self._c.execute(table.delete())

    def _insert(self, table: sa.Table, rows: list[Row], pk: list[str] | None, only: list[str] | None = None) -> None:
        """Multi-row INSERT in key order; on a key conflict update (``pk``: every other column, or ``only``)
        or ignore."""
        if not rows:
            return
        stmt = self._store._insert(table)
        key = pk or [c.name for c in table.primary_key.columns]
        if pk is None:
            stmt = stmt.on_conflict_do_nothing()
        else:
            cols = only or [col.name for col in table.columns if col.name not in pk]
            stmt = stmt.on_conflict_do_update(index_elements=pk, set_={col: stmt.excluded[col] for col in cols})
        names = [col.name for col in table.columns]
        ordered = sorted(rows, key=lambda r: tuple(str(r.get(k)) for k in key))
        for i in range(0, len(ordered), _ROWS):
            self._c.execute(stmt, [{n: r.get(n) for n in names} for r in ordered[i : i + _ROWS]])
