"""Reads over the OpenLineage tables (``ol_*``): the rows that Marquez's read model, the lineage graph and
the facets call are built from.

A :class:`LineageReader` is one connection, so a page — a count, a page of keys, then the related rows —
is read on one connection. Related rows are fetched by key with :func:`in_keys`: however many keys, they
travel as one JSON parameter, so a page (or a hop of the lineage graph) costs a fixed number of statements
whatever the size of the store or of the page. Rows come back as named tuples; turning them into Marquez's
JSON is :mod:`lineage_core.openlineage.views`' business. The graph's and the dashboard's queries are in
:mod:`.ol_graph` and :mod:`.ol_stats`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from . import schema as t

if TYPE_CHECKING:
    from .metadata import Store

Key = tuple[str, str]
T = TypeVar("T")
LATEST_RUNS = 10  # Marquez's Job.latestRuns


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
    job_version: str | None
    nominal_start_time: float | None  # set only on a parent run made from a child's event, as Marquez sets them
    nominal_end_time: float | None


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
    current_version: str | None
    current_run_id: str | None
    made_location: str | None  # a parent job a child's event wrote last: the child's location ("" for none)


class DatasetRow(NamedTuple):
    namespace: str
    name: str
    current_version: str | None
    created_at: float
    updated_at: float
    version_facets: dict[str, Any] | None  # the current version's (None: no current version)
    version_run_id: str | None  # the run that wrote the current version
    version_created_at: float | None
    version_fields: list[dict[str, Any]] | None  # every field the current version's events named
    version_first_fields: list[dict[str, Any]] | None  # those of the event that made it
    source_name: str | None  # the source the first event that named it gave


class RunVersion(NamedTuple):
    run_id: str
    direction: str  # "in": the version the run read, "out": one it wrote
    namespace: str
    name: str
    version: str
    facets: dict[str, Any]  # the run's input (or output) facets for it


class VersionRow(NamedTuple):
    namespace: str
    name: str
    version: str
    run_id: str | None
    facets: dict[str, Any]
    created_at: float
    fields: list[dict[str, Any]] | None  # [{name, type, description}]: every field its events named
    first_fields: list[dict[str, Any]] | None  # those of the event that made it


class EdgeRow(NamedTuple):
    job_namespace: str
    job_name: str
    dataset_namespace: str
    dataset_name: str
    direction: str  # "in": dataset -> job, "out": job -> dataset


class SymlinkRow(NamedTuple):
    namespace: str  # the other name
    name: str
    target_namespace: str  # the dataset it names
    target_name: str


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


KEYS = "keys"  # the one bound parameter of a keyed statement: the keys, as JSON
_STATEMENTS: dict[tuple[str, str], Any] = {}


def in_keys(dialect: str, cols: Sequence[Any], name: str = KEYS) -> sa.ColumnElement[bool]:
    """``(cols) IN keys`` as one statement however many keys there are: the keys travel as one JSON parameter
    (``name``, :data:`KEYS` unless told; see :func:`encode`; no bound-parameter limit, no OR chain), unpacked by
    ``json_each`` (SQLite) or ``jsonb_array_elements`` (PostgreSQL), and the planner probes the columns' index
    for each."""
    param = sa.bindparam(name, type_=sa.Text)
    if dialect == "postgresql":
        rows = sa.func.jsonb_array_elements(sa.cast(param, JSONB)).table_valued("value").render_derived()
        parts: list[Any] = [rows.c.value.op("->>")(i) for i in range(len(cols))]
    else:
        rows = sa.func.json_each(param).table_valued("value")
        parts = [sa.func.json_extract(rows.c.value, f"$[{i}]") for i in range(len(cols))]
    sub = sa.select(*parts).select_from(rows)
    return cols[0].in_(sub) if len(cols) == 1 else sa.tuple_(*cols).in_(sub)


def encode(keys: Sequence[Sequence[Any]], name: str = KEYS) -> dict[str, str]:
    """The parameters of a keyed statement."""
    return {name: json.dumps([list(k) for k in keys], ensure_ascii=False)}


def statement(dialect: str, name: str, build: Callable[[str], Any]) -> Any:
    """The statement ``build(dialect)`` makes, built once per dialect: a query runs without rebuilding (or
    re-deriving the cache key of) its SQL expression, which costs more than a keyed lookup itself."""
    found = _STATEMENTS.get((dialect, name))
    if found is None:
        found = _STATEMENTS[(dialect, name)] = build(dialect)
    return found


def columns(table: sa.Table, row: type[tuple[Any, ...]]) -> sa.Select[Any]:
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
        self.dialect = conn.dialect.name

    def keyed(self, name: str, build: Callable[[str], Any], keys: Sequence[Sequence[Any]]) -> list[Any]:
        """The rows of the statement ``build`` makes (with :func:`in_keys`) for ``keys``, in one statement (none
        for no keys); ``name`` names the statement (see :func:`statement`)."""
        if not keys:
            return []
        return list(self._c.execute(statement(self.dialect, name, build), encode(keys)))

    def execute(self, query: sa.Executable, params: dict[str, Any] | None = None) -> Any:
        """One statement on this reader's connection (the graph's and column lineage's queries)."""
        return self._c.execute(query, params)

    # -- runs -------------------------------------------------------------------------------------
    def runs(self, run_ids: Sequence[str]) -> list[RunRow]:
        rc = t.ol_runs.c
        rows = self.keyed("runs", lambda d: columns(t.ol_runs, RunRow).where(in_keys(d, [rc.run_id])),
                          [(i,) for i in run_ids])
        return [RunRow(*r) for r in rows]

    def run_versions(self, run_ids: Sequence[str]) -> list[RunVersion]:
        """The dataset versions the given runs read and wrote."""
        vc = t.ol_run_versions.c
        rows = self.keyed("run_versions", lambda d: columns(t.ol_run_versions, RunVersion).where(
            in_keys(d, [vc.run_id])).order_by(vc.created_at), [(i,) for i in run_ids])
        return [RunVersion(*r) for r in rows]

    def job_runs(self, namespace: str, name: str, limit: int, offset: int) -> Page[str]:
        """Run ids of one job, most recently started first (never-started runs last), as Marquez lists them."""
        rc = t.ol_runs.c
        where = sa.and_(rc.job_namespace == namespace, rc.job_name == name)
        q = (sa.select(rc.run_id).where(where).order_by(rc.started_at.desc().nulls_last(), rc.created_at.desc(),
                                                        rc.run_id).limit(limit).offset(offset))
        return Page(self._count(t.ol_runs, where), [r[0] for r in self._c.execute(q)])

    def latest_runs(self, keys: Sequence[Key], n: int = LATEST_RUNS) -> dict[Key, list[str]]:
        """The ``n`` runs of each job whose state changed last, newest first (one statement for every job)."""
        rc = t.ol_runs.c
        if not keys:
            return {}

        def build(dialect: str) -> Any:
            rank = sa.func.row_number().over(partition_by=(rc.job_namespace, rc.job_name),
                                             order_by=(rc.updated_at.desc(), rc.run_id.desc())).label("rank")
            ranked = (sa.select(rc.job_namespace, rc.job_name, rc.run_id, rank)
                      .where(in_keys(dialect, [rc.job_namespace, rc.job_name])).subquery())
            return (sa.select(ranked.c.job_namespace, ranked.c.job_name, ranked.c.run_id)
                    .where(ranked.c.rank <= sa.bindparam("n")).order_by(ranked.c.rank))

        out: dict[Key, list[str]] = {}
        q = statement(self.dialect, "latest_runs", build)
        for ns, name, run_id in self._c.execute(q, {**encode(keys), "n": n}):
            out.setdefault((ns, name), []).append(run_id)
        return out

    def versioned_runs(self, namespace: str, name: str) -> list[tuple[str, str, float | None, dict[str, Any]]]:
        """(run id, job version, end, job facets) of the job's runs that made a version, oldest end first (a
        streaming run, which need not end, by its last event)."""
        rc = t.ol_runs.c
        q = (sa.select(rc.run_id, rc.job_version, sa.func.coalesce(rc.ended_at, rc.updated_at), rc.job_facets)
             .where(rc.job_namespace == namespace, rc.job_name == name, rc.job_version.is_not(None))
             .order_by(sa.func.coalesce(rc.ended_at, rc.updated_at), rc.run_id))
        return [(r[0], r[1], r[2], r[3] or {}) for r in self._c.execute(q)]

    def run_event_payloads(self, run_id: str) -> list[dict[str, Any]]:
        """The raw events of one run, in event-time order."""
        ec = t.ol_events.c
        q = sa.select(ec.payload).where(ec.run_id == run_id).order_by(ec.event_time, ec.id)
        return [r[0] for r in self._c.execute(q)]

    # -- jobs -------------------------------------------------------------------------------------
    def jobs(self, keys: Sequence[Key]) -> list[JobRow]:
        jc = t.ol_jobs.c
        return [JobRow(*r) for r in self.keyed("jobs", lambda d: columns(t.ol_jobs, JobRow).where(
            in_keys(d, [jc.namespace, jc.name])), keys)]

    def edges(self, keys: Sequence[Key], of: Literal["job", "dataset"]) -> list[EdgeRow]:
        """The current edges (those of each job's current version) that touch the given jobs (or datasets)."""
        ec = t.ol_edges.c
        cols = [ec.job_namespace, ec.job_name] if of == "job" else [ec.dataset_namespace, ec.dataset_name]
        return [EdgeRow(*r) for r in self.keyed(f"edges_of_{of}", lambda d: columns(t.ol_edges, EdgeRow).where(
            ec.current, in_keys(d, cols)), keys)]

    def job_keys(self, namespace: str | None, states: Sequence[str] | None, limit: int, offset: int) -> Page[Key]:
        """Jobs (of a namespace, or all), most recently changed first; ``states``: only those whose current run is
        in one of them (Marquez's ``lastRunStates``: a child job's current run is its parent's). The total is every
        job of the namespace whatever ``states`` says, as Marquez's (``JobDao.countFor`` ignores the filter), so
        the web UI pages a filtered list as it pages it against Marquez."""
        jc, rc = t.ol_jobs.c, t.ol_runs.c
        where: Any = sa.true() if namespace is None else jc.namespace == namespace
        every = where
        if states:  # as Marquez: a job with no current run passes every filter
            current = sa.select(rc.run_id).where(rc.run_id == jc.current_run_id, rc.state.in_(states))
            where = sa.and_(where, sa.or_(jc.current_run_id.is_(None), current.exists()))
        order = (jc.updated_at.desc(), jc.namespace, jc.name)  # Marquez's: most recently changed first
        q = sa.select(jc.namespace, jc.name).where(where).order_by(*order).limit(limit).offset(offset)
        return Page(self._count(t.ol_jobs, every), [(r[0], r[1]) for r in self._c.execute(q)])

    # -- datasets ---------------------------------------------------------------------------------
    def datasets(self, keys: Sequence[Key], every_field: bool = True) -> list[DatasetRow]:
        """Datasets with their current version's facets, writer, time and fields (one statement); without
        ``every_field``, ``version_fields`` is None (the lineage graph shows only the first event's fields, and a
        large schema is most of a row to read and decode)."""
        dc, vc = t.ol_datasets.c, t.ol_dataset_versions.c

        def build(dialect: str) -> Any:
            joined = t.ol_datasets.outerjoin(t.ol_dataset_versions, sa.and_(
                vc.namespace == dc.namespace, vc.name == dc.name, vc.version == dc.current_version))
            fields = vc.fields if every_field else sa.null()
            return sa.select(dc.namespace, dc.name, dc.current_version, dc.created_at, dc.updated_at, vc.facets,
                             vc.run_id, vc.created_at, fields, vc.first_fields, dc.source_name).select_from(
                joined).where(
                in_keys(dialect, [dc.namespace, dc.name]))

        return [DatasetRow(*r) for r in self.keyed(f"datasets_{every_field}", build, keys)]

    def dataset_keys(self, namespace: str, limit: int, offset: int) -> Page[Key]:
        """The datasets of a namespace by name, with the other names (symlinks) it holds, as Marquez lists them."""
        dc, sc = t.ol_datasets.c, t.ol_dataset_symlinks.c
        both = sa.union(sa.select(dc.namespace.label("ns"), dc.name.label("name")).where(dc.namespace == namespace),
                        sa.select(sc.namespace, sc.name).where(sc.namespace == namespace)).subquery()
        q = sa.select(both.c.ns, both.c.name).order_by(both.c.name).limit(limit).offset(offset)
        total = self._c.execute(sa.select(sa.func.count()).select_from(both)).scalar_one()
        return Page(int(total), [(r[0], r[1]) for r in self._c.execute(q)])

    def symlinks(self, keys: Sequence[Key], to: bool = False) -> list[SymlinkRow]:
        """The other names among ``keys`` that name no dataset of their own (``to``: the other names of the
        datasets ``keys`` name)."""
        sc, dc = t.ol_dataset_symlinks.c, t.ol_datasets.c

        def build(dialect: str) -> Any:
            q = columns(t.ol_dataset_symlinks, SymlinkRow)
            if to:
                return q.where(in_keys(dialect, [sc.target_namespace, sc.target_name]))
            own = sa.select(dc.name).where(dc.namespace == sc.namespace, dc.name == sc.name).exists()
            return q.where(in_keys(dialect, [sc.namespace, sc.name]), ~own)

        return [SymlinkRow(*r) for r in self.keyed(f"symlinks_{to}", build, keys)]

    def dataset_versions(self, namespace: str, name: str, limit: int, offset: int) -> Page[VersionRow]:
        """Versions of one dataset, newest first."""
        vc = t.ol_dataset_versions.c
        where = sa.and_(vc.namespace == namespace, vc.name == name)
        q = (columns(t.ol_dataset_versions, VersionRow).where(where)
             .order_by(vc.created_at.desc(), vc.version).limit(limit).offset(offset))
        return Page(self._count(t.ol_dataset_versions, where), [VersionRow(*r) for r in self._c.execute(q)])

    def versions(self, keys: Sequence[tuple[str, str, str]]) -> list[VersionRow]:
        """Dataset versions by (namespace, name, version)."""
        vc = t.ol_dataset_versions.c
        return [VersionRow(*r) for r in self.keyed("versions", lambda d: columns(t.ol_dataset_versions, VersionRow)
                                                   .where(in_keys(d, [vc.namespace, vc.name, vc.version])), keys)]

    # -- namespaces and search --------------------------------------------------------------------
    def namespaces(self, limit: int, offset: int, name: str | None = None) -> list[NamespaceRow]:
        """Every namespace a job, a dataset or a dataset's other name lives in (or just ``name``), with its first
        and last change."""
        jc, dc, sc = t.ol_jobs.c, t.ol_datasets.c, t.ol_dataset_symlinks.c
        jobs = sa.select(jc.namespace.label("ns"), jc.created_at.label("c"), jc.updated_at.label("u"))
        datasets = sa.select(dc.namespace, dc.created_at, dc.updated_at)
        links = sa.select(sc.namespace, sc.created_at, sc.created_at)  # a symlinks facet's names make theirs
        if name is not None:
            jobs, datasets = jobs.where(jc.namespace == name), datasets.where(dc.namespace == name)
            links = links.where(sc.namespace == name)
        both = sa.union_all(jobs, datasets, links).subquery()
        q = (sa.select(both.c.ns, sa.func.min(both.c.c), sa.func.max(both.c.u)).group_by(both.c.ns)
             .order_by(both.c.ns).limit(limit).offset(offset))
        return [NamespaceRow(*r) for r in self._c.execute(q)]

    def namespaces_before(self, name: str) -> int:
        """How many namespaces sort before ``name`` (in the database's order, as :meth:`namespaces` lists them)."""
        jc, dc, sc = t.ol_jobs.c, t.ol_datasets.c, t.ol_dataset_symlinks.c
        both = sa.union(sa.select(jc.namespace.label("ns")).where(jc.namespace < name),
                        sa.select(dc.namespace).where(dc.namespace < name),
                        sa.select(sc.namespace).where(sc.namespace < name)).subquery()
        return int(self._c.execute(sa.select(sa.func.count()).select_from(both)).scalar_one())

    def first_change(self) -> float | None:
        """When the oldest job or dataset appeared (None in an empty store)."""
        jc, dc = t.ol_jobs.c, t.ol_datasets.c
        lo = [self._c.execute(sa.select(sa.func.min(c))).scalar() for c in (jc.created_at, dc.created_at)]
        found = [float(x) for x in lo if x is not None]
        return min(found) if found else None

    def search(self, of: Literal["job", "dataset"], pattern: str, by_update: bool, limit: int,
               namespace: str | None) -> list[SearchHit]:
        """Jobs (or datasets) whose name matches ``%pattern%`` case-insensitively (``%`` and ``_`` are
        wildcards, as in Marquez); by name or newest first."""
        table = t.ol_jobs if of == "job" else t.ol_datasets
        source: Any = sa.select(table.c.namespace, table.c.name, table.c.updated_at)
        if of == "dataset":  # and the other names a symlinks facet gave datasets (with their dataset's time)
            sc, dc = t.ol_dataset_symlinks.c, t.ol_datasets.c
            links = sa.select(sc.namespace, sc.name, dc.updated_at).select_from(t.ol_dataset_symlinks.join(
                t.ol_datasets, sa.and_(dc.namespace == sc.target_namespace, dc.name == sc.target_name)))
            source = sa.union(source, links)
        found = source.subquery()
        where: Any = found.c.name.ilike(f"%{pattern}%", escape="\\")
        if namespace:
            where = sa.and_(where, found.c.namespace == namespace)
        order = found.c.updated_at.desc() if by_update else found.c.name
        q = sa.select(found.c.namespace, found.c.name, found.c.updated_at).where(where).order_by(order).limit(limit)
        return [SearchHit(*r) for r in self._c.execute(q)]

    def _count(self, table: sa.Table, where: Any) -> int:
        return int(self._c.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one())
