"""Jobs, runs, datasets, dataset versions and job<->dataset edges derived from raw OpenLineage events.

Set-based per batch: the rows the batch touches are read in a few keyed queries, the events are
folded onto them in memory in the order given (so a batch means what the same events sent one by one
mean), and the results are written back with one multi-row upsert per table. A batch of a hundred
events costs about ten statements instead of well over a thousand.

Semantics (Marquez's, where its UI depends on them): facets accumulate per entity, a facet sent again
replaces the old one and ``_deleted: true`` removes it; COMPLETE/FAIL/ABORT map to COMPLETED/FAILED/
ABORTED and anything else to RUNNING, and a late event never reopens a finished run; a ``parent`` facet
links the job to its parent job, which exists from then on; edges run dataset -> job for inputs and
job -> dataset for outputs; a dataset's ``version`` facet makes a dataset version, created by the run
that wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..ids import run_uuid
from ..store import schema as t
from .views import pairs

if TYPE_CHECKING:
    from ..store import Store
    from .ingest import Parsed

Key = tuple[str, str]
_STATE = {"COMPLETE": "COMPLETED", "FAIL": "FAILED", "ABORT": "ABORTED"}
_FINISHED = set(_STATE.values())
_CHUNK = 400


def merge_facets(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """Facets accumulate; a facet sent again replaces the old one; ``_deleted: true`` removes it."""
    merged = dict(old or {})
    for key, facet in (new or {}).items():
        if isinstance(facet, dict) and facet.get("_deleted") is True:
            merged.pop(key, None)
        else:
            merged[key] = facet
    return merged


@dataclass
class Batch:
    """The derived rows one batch of events touches, loaded, folded and written back."""

    jobs: dict[Key, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[Key, dict[str, Any]] = field(default_factory=dict)
    versions: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[str, str, str, str, str], dict[str, Any]] = field(default_factory=dict)

    # -- load ---------------------------------------------------------------------------------
    def load(self, c: sa.Connection, events: list[Parsed]) -> None:
        jobs: set[Key] = set()
        datasets: set[Key] = set()
        runs: set[str] = set()
        for p in events:
            e = p.payload
            if p.kind == "DatasetEvent":
                datasets.add((e["dataset"]["namespace"], e["dataset"]["name"]))
                continue
            assert p.job is not None
            jobs.add(p.job)
            if p.run_id:
                runs.add(p.run_id)
            for ds in _datasets(e):
                datasets.add((ds["namespace"], ds["name"]))
        jc, dc, rc = t.ol_jobs.c, t.ol_datasets.c, t.ol_runs.c
        for key_set, table, cols, into in ((jobs, t.ol_jobs, (jc.namespace, jc.name), self.jobs),
                                           (datasets, t.ol_datasets, (dc.namespace, dc.name), self.datasets)):
            keys = sorted(key_set)
            for i in range(0, len(keys), _CHUNK):
                for row in c.execute(sa.select(table).where(pairs(cols, keys[i : i + _CHUNK]))):
                    into[(row.namespace, row.name)] = dict(row._mapping)
        ids = sorted(runs)
        for i in range(0, len(ids), _CHUNK):
            for row in c.execute(sa.select(t.ol_runs).where(rc.run_id.in_(ids[i : i + _CHUNK]))):
                self.runs[row.run_id] = dict(row._mapping)

    # -- fold ---------------------------------------------------------------------------------
    def add(self, p: Parsed) -> None:
        e = p.payload
        if p.kind == "DatasetEvent":
            self._dataset(e["dataset"], p.time, None)
            return
        assert p.job is not None
        parent = ((e.get("run") or {}).get("facets") or {}).get("parent") if p.kind == "RunEvent" else None
        self._job(p.job, (e.get("job") or {}).get("facets"), p.time, p.run_id, parent)
        if p.kind == "RunEvent":
            self._run(p, parent)
        for ds in e.get("inputs") or []:
            if _valid(ds):
                self._dataset(ds, p.time, None)
                self._edge(p.job, (ds["namespace"], ds["name"]), "in", p.run_id, p.time)
        for ds in e.get("outputs") or []:
            if _valid(ds):
                self._dataset(ds, p.time, p.run_id)
                self._edge(p.job, (ds["namespace"], ds["name"]), "out", p.run_id, p.time)

    def _job(self, key: Key, facets: Any, when: float, run_id: str | None, parent: Any) -> None:
        row = self.jobs.get(key) or {"namespace": key[0], "name": key[1], "type": "BATCH", "parent_namespace": None,
                                     "parent_name": None, "facets": {}, "latest_run_id": None,
                                     "created_at": when, "updated_at": when}
        row["facets"] = merge_facets(row["facets"], facets)
        row["type"] = "STREAM" if (row["facets"].get("jobType") or {}).get("processingType") == "STREAMING" else "BATCH"
        row["updated_at"] = when
        if run_id:
            row["latest_run_id"] = run_id
        pjob = parent.get("job") if isinstance(parent, dict) else None
        if isinstance(pjob, dict) and isinstance(pjob.get("namespace"), str) and isinstance(pjob.get("name"), str):
            row["parent_namespace"], row["parent_name"] = pjob["namespace"], pjob["name"]
            pkey = (pjob["namespace"], pjob["name"])
            if pkey not in self.jobs:  # as Marquez: a parent job named by a child exists from now on
                self.jobs[pkey] = {"namespace": pkey[0], "name": pkey[1], "type": "BATCH", "parent_namespace": None,
                                   "parent_name": None, "facets": {}, "latest_run_id": None,
                                   "created_at": when, "updated_at": when, "_placeholder": True}
        self.jobs[key] = row
        row.pop("_placeholder", None)

    def _run(self, p: Parsed, parent: Any) -> None:
        assert p.run_id is not None and p.job is not None and p.event_type is not None
        old = self.runs.get(p.run_id)
        state = _STATE.get(p.event_type, "RUNNING")
        if old is not None and old["state"] in _FINISHED and state == "RUNNING":
            state = old["state"]  # a late START/OTHER never reopens a finished run
        started = old["started_at"] if old and old["started_at"] is not None else (
            p.time if p.event_type in ("START", "RUNNING") else None)
        ended = p.time if p.event_type in _STATE else (old["ended_at"] if old else None)
        row = old or {"run_id": p.run_id, "parent_run_id": None, "facets": {}, "created_at": p.time}
        row.update(job_namespace=p.job[0], job_name=p.job[1], state=state, started_at=started, ended_at=ended,
                   facets=merge_facets(row["facets"], (p.payload.get("run") or {}).get("facets")), updated_at=p.time)
        prun = parent.get("run") if isinstance(parent, dict) else None
        if isinstance(prun, dict) and prun.get("runId"):
            row["parent_run_id"] = run_uuid(str(prun["runId"]))
        self.runs[p.run_id] = row

    def _dataset(self, ds: dict[str, Any], when: float, run_id: str | None) -> None:
        key = (ds["namespace"], ds["name"])
        row = self.datasets.get(key) or {"namespace": key[0], "name": key[1], "facets": {}, "current_version": None,
                                         "created_at": when, "updated_at": when}
        row["facets"] = merge_facets(row["facets"], ds.get("facets"))
        row["updated_at"] = when
        version_facet = row["facets"].get("version")
        version = version_facet.get("datasetVersion") if isinstance(version_facet, dict) else None
        if version:
            row["current_version"] = str(version)
            vkey = (key[0], key[1], str(version))
            self.versions.setdefault(vkey, {"namespace": key[0], "name": key[1], "version": str(version),
                                            "run_id": run_id, "facets": ds.get("facets") or {}, "created_at": when})
        self.datasets[key] = row

    def _edge(self, job: Key, ds: Key, direction: str, run_id: str | None, when: float) -> None:
        self.edges[(job[0], job[1], ds[0], ds[1], direction)] = {
            "job_namespace": job[0], "job_name": job[1], "dataset_namespace": ds[0], "dataset_name": ds[1],
            "direction": direction, "last_run_id": run_id, "updated_at": when}

    # -- write --------------------------------------------------------------------------------
    def write(self, c: sa.Connection, store: Store) -> None:
        placeholders = [r for r in self.jobs.values() if r.pop("_placeholder", False)]
        named = {id(r) for r in placeholders}
        _insert(c, store, t.ol_jobs, placeholders, None)  # never overwrite a parent job that exists
        _insert(c, store, t.ol_jobs, [r for r in self.jobs.values() if id(r) not in named], ["namespace", "name"])
        _insert(c, store, t.ol_runs, list(self.runs.values()), ["run_id"])
        _insert(c, store, t.ol_datasets, list(self.datasets.values()), ["namespace", "name"])
        _insert(c, store, t.ol_dataset_versions, list(self.versions.values()), None)
        _insert(c, store, t.ol_edges, list(self.edges.values()),
                ["job_namespace", "job_name", "dataset_namespace", "dataset_name", "direction"],
                only=["last_run_id", "updated_at"])


def _insert(c: sa.Connection, store: Store, table: sa.Table, rows: list[dict[str, Any]], pk: list[str] | None,
            only: list[str] | None = None) -> None:
    """Multi-row INSERT; on a key conflict update (``pk``: every other column, or ``only``) or ignore."""
    if not rows:
        return
    stmt = store._insert(table)
    if pk is None:
        stmt = stmt.on_conflict_do_nothing()
    else:
        cols = only or [col.name for col in table.columns if col.name not in pk]
        stmt = stmt.on_conflict_do_update(index_elements=pk, set_={col: stmt.excluded[col] for col in cols})
    names = [col.name for col in table.columns]
    for i in range(0, len(rows), 500):
        c.execute(stmt, [{n: r.get(n) for n in names} for r in rows[i : i + 500]])


def _valid(ds: Any) -> bool:
    return isinstance(ds, dict) and isinstance(ds.get("namespace"), str) and isinstance(ds.get("name"), str)


def _datasets(e: dict[str, Any]) -> list[dict[str, Any]]:
    return [ds for key in ("inputs", "outputs") for ds in e.get(key) or [] if _valid(ds)]


def derive(c: sa.Connection, store: Store, events: list[Parsed]) -> None:
    """Fold events (in the order given) into the derived tables."""
    if not events:
        return
    batch = Batch()
    batch.load(c, events)
    for p in events:
        batch.add(p)
    batch.write(c, store)
