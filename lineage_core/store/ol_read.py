"""Reads over the OpenLineage tables (``ol_*``): the rows that Marquez's read model, the lineage graph and
the facets call are built from.

A :class:`LineageReader` is one connection, so a page — a count, a page of keys, then the related rows —
is read on one connection, as it always was. Related rows are fetched by key in batches, never row by
row, so a page costs a fixed handful of statements whatever the size of the store. Rows come back as
named tuples; turning them into Marquez's JSON is :mod:`lineage_core.openlineage.views`' business.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, TypeVar

import sqlalchemy as sa

from . import schema as t

if TYPE_CHECKING:
    from .metadata import Store

Key = tuple[str, str]
T = TypeVar("T")
BATCH = 400  # keys per statement: well under SQLite's bound-parameter limit for composite keys


class RunRow(NamedTuple):
    run_id: str
    job_namespace: str
    job_name: str
    state: str
    started_at: float | None
    ended_at: float | None
    parent_run_id: str | None
    facets: dict[str, Any]
    created_at: float
    updated_at: float


class JobRow(NamedTuple):
    namespace: str
    name: str
    type: str
    parent_namespace: str | None
    parent_name: str | None
    facets: dict[str, Any]
    latest_run_id: str | None
    created_at: float
    updated_at: float


class DatasetRow(NamedTuple):
    namespace: str
    name: str
    facets: dict[str, Any]
    current_version: str | None
    created_at: float
    updated_at: float


class WrittenVersion(NamedTuple):
    run_id: str
    namespace: str
    name: str
    version: str


class VersionRow(NamedTuple):
    namespace: str
    name: str
    version: str
    run_id: str | None
    facets: dict[str, Any]
    created_at: float


class EdgeRow(NamedTuple):
    job_namespace: str
    job_name: str
    dataset_namespace: str
    dataset_name: str
    direction: str  # "in": dataset -> job, "out": job -> dataset


class NamespaceRow(NamedTuple):
    name: str
    created_at: float
    updated_at: float


class SearchHit(NamedTuple):
    namespace: str
    name: str
    updated_at: float


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the size of the whole list."""

    total: int
    items: list[T]


def pairs(cols: tuple[Any, Any], keys: Sequence[Key]) -> sa.ColumnElement[bool]:
    """``(a, b) IN (...)`` spelled portably: an OR of equalities (uses the composite key index)."""
    return sa.or_(*[sa.and_(cols[0] == x, cols[1] == y) for x, y in keys])


def by_pairs(c: sa.Connection, query: sa.Select[Any], cols: tuple[Any, Any], keys: Sequence[Key]) -> list[Any]:
    """The rows of ``query`` whose ``cols`` are one of ``keys``, in batches of :data:`BATCH` keys."""
    rows: list[Any] = []
    for i in range(0, len(keys), BATCH):
        rows += c.execute(query.where(pairs(cols, keys[i : i + BATCH]))).all()
    return rows


def by_ids(c: sa.Connection, query: sa.Select[Any], col: Any, ids: Sequence[str]) -> list[Any]:
    """The rows of ``query`` whose ``col`` is one of ``ids``, in batches of :data:`BATCH` ids."""
    rows: list[Any] = []
    for i in range(0, len(ids), BATCH):
        rows += c.execute(query.where(col.in_(ids[i : i + BATCH]))).all()
    return rows


def _columns(table: sa.Table, row: type[tuple[Any, ...]]) -> sa.Select[Any]:
    """SELECT the columns of ``table`` that ``row`` (a named tuple) names, in its order."""
    return sa.select(*(table.c[name] for name in row._fields))  # type: ignore[attr-defined]


@contextlib.contextmanager
def read_lineage(store: Store) -> Iterator[LineageReader]:
    """A reader on one connection of ``store``."""
    with store.engine.connect() as c:
        yield LineageReader(c)


class LineageReader:
    """The queries of the lineage read model, on one connection (see :func:`read_lineage`)."""

    def __init__(self, conn: sa.Connection) -> None:
        self._c = conn

    # -- runs -------------------------------------------------------------------------------------
    def runs(self, run_ids: Sequence[str]) -> list[RunRow]:
        q = _columns(t.ol_runs, RunRow)
        return [RunRow(*r) for r in by_ids(self._c, q, t.ol_runs.c.run_id, run_ids)]

    def versions_written(self, run_ids: Sequence[str]) -> list[WrittenVersion]:
        """The dataset versions the given runs wrote."""
        q = _columns(t.ol_dataset_versions, WrittenVersion)
        return [WrittenVersion(*r) for r in by_ids(self._c, q, t.ol_dataset_versions.c.run_id, run_ids)]

    def job_runs(self, namespace: str, name: str, limit: int, offset: int) -> Page[str]:
        """Run ids of one job, newest first."""
        rc = t.ol_runs.c
        where = sa.and_(rc.job_namespace == namespace, rc.job_name == name)
        q = sa.select(rc.run_id).where(where).order_by(rc.created_at.desc(), rc.run_id).limit(limit).offset(offset)
        return Page(self._count(t.ol_runs, where), [r[0] for r in self._c.execute(q)])

    def run_event_payloads(self, run_id: str) -> list[dict[str, Any]]:
        """The raw events of one run, in event-time order."""
        ec = t.ol_events.c
        q = sa.select(ec.payload).where(ec.run_id == run_id).order_by(ec.event_time, ec.id)
        return [r[0] for r in self._c.execute(q)]

    # -- jobs -------------------------------------------------------------------------------------
    def jobs(self, keys: Sequence[Key]) -> list[JobRow]:
        jc = t.ol_jobs.c
        return [JobRow(*r) for r in by_pairs(self._c, _columns(t.ol_jobs, JobRow), (jc.namespace, jc.name), keys)]

    def edges(self, keys: Sequence[Key], of: Literal["job", "dataset"]) -> list[EdgeRow]:
        """The job<->dataset edges that touch the given jobs (or datasets)."""
        ec = t.ol_edges.c
        cols = (ec.job_namespace, ec.job_name) if of == "job" else (ec.dataset_namespace, ec.dataset_name)
        return [EdgeRow(*r) for r in by_pairs(self._c, _columns(t.ol_edges, EdgeRow), cols, keys)]

    def job_keys(self, namespace: str | None, states: Sequence[str] | None, limit: int, offset: int) -> Page[Key]:
        """Jobs (of a namespace, or all), by name; ``states``: only those whose latest run is in one of them."""
        jc, rc = t.ol_jobs.c, t.ol_runs.c
        where: Any = sa.true() if namespace is None else jc.namespace == namespace
        if states:
            latest = sa.select(rc.run_id).where(rc.run_id == jc.latest_run_id, rc.state.in_(states))
            where = sa.and_(where, latest.exists())
        q = sa.select(jc.namespace, jc.name).where(where).order_by(jc.namespace, jc.name).limit(limit).offset(offset)
        return Page(self._count(t.ol_jobs, where), [(r[0], r[1]) for r in self._c.execute(q)])

    # -- datasets ---------------------------------------------------------------------------------
    def datasets(self, keys: Sequence[Key]) -> list[DatasetRow]:
        dc = t.ol_datasets.c
        q = _columns(t.ol_datasets, DatasetRow)
        return [DatasetRow(*r) for r in by_pairs(self._c, q, (dc.namespace, dc.name), keys)]

    def dataset_keys(self, namespace: str, limit: int, offset: int) -> Page[Key]:
        dc = t.ol_datasets.c
        where = dc.namespace == namespace
        q = sa.select(dc.namespace, dc.name).where(where).order_by(dc.name).limit(limit).offset(offset)
        return Page(self._count(t.ol_datasets, where), [(r[0], r[1]) for r in self._c.execute(q)])

    def dataset_versions(self, namespace: str, name: str, limit: int, offset: int) -> Page[VersionRow]:
        """Versions of one dataset, newest first."""
        vc = t.ol_dataset_versions.c
        where = sa.and_(vc.namespace == namespace, vc.name == name)
        q = (_columns(t.ol_dataset_versions, VersionRow).where(where)
             .order_by(vc.created_at.desc(), vc.version).limit(limit).offset(offset))
        return Page(self._count(t.ol_dataset_versions, where), [VersionRow(*r) for r in self._c.execute(q)])

    # -- namespaces and search --------------------------------------------------------------------
    def namespaces(self, limit: int, offset: int, name: str | None = None) -> list[NamespaceRow]:
        """Every namespace a job or dataset lives in (or just ``name``), with its first and last change."""
        jc, dc = t.ol_jobs.c, t.ol_datasets.c
        jobs = sa.select(jc.namespace.label("ns"), jc.created_at.label("c"), jc.updated_at.label("u"))
        datasets = sa.select(dc.namespace, dc.created_at, dc.updated_at)
        if name is not None:
            jobs, datasets = jobs.where(jc.namespace == name), datasets.where(dc.namespace == name)
        both = sa.union_all(jobs, datasets).subquery()
        q = (sa.select(both.c.ns, sa.func.min(both.c.c), sa.func.max(both.c.u)).group_by(both.c.ns)
             .order_by(both.c.ns).limit(limit).offset(offset))
        return [NamespaceRow(*r) for r in self._c.execute(q)]

    def search(self, of: Literal["job", "dataset"], text: str, by_update: bool, limit: int,
               namespace: str | None) -> list[SearchHit]:
        """Jobs (or datasets) whose name contains ``text``, case-insensitively; by name or newest first."""
        table = t.ol_jobs if of == "job" else t.ol_datasets
        where: Any = table.c.name.ilike(f"%{_escape_like(text)}%", escape="\\")
        if namespace:
            where = sa.and_(where, table.c.namespace == namespace)
        order = table.c.updated_at.desc() if by_update else table.c.name
        q = sa.select(table.c.namespace, table.c.name, table.c.updated_at).where(where).order_by(order).limit(limit)
        return [SearchHit(*r) for r in self._c.execute(q)]

    def _count(self, table: sa.Table, where: Any) -> int:
        return int(self._c.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
