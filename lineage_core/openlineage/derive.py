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

from ..ids import run_uuid
from ..runs import EventType, RunStatus

if TYPE_CHECKING:
    from ..store.ol_write import LineageWriter

Key = tuple[str, str]
_STATE = {EventType.COMPLETE: RunStatus.COMPLETED, EventType.FAIL: RunStatus.FAILED, EventType.ABORT: RunStatus.ABORTED}
_FINISHED = set(_STATE.values())


@dataclass
class Parsed:
    """One event that passed :func:`lineage_core.openlineage.ingest.parse`: what derivation folds."""

    kind: str  # RunEvent | JobEvent | DatasetEvent
    payload: dict[str, Any]
    time: float
    event_type: EventType | None = None
    run_id: str | None = None
    job: tuple[str, str] | None = None


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
    def load(self, w: LineageWriter, events: list[Parsed]) -> None:
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
        self.jobs.update(w.jobs(sorted(jobs)))
        self.datasets.update(w.datasets(sorted(datasets)))
        self.runs.update(w.runs(sorted(runs)))

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
        state = _STATE.get(p.event_type, RunStatus.RUNNING)
        if old is not None and old["state"] in _FINISHED and state is RunStatus.RUNNING:
            state = old["state"]  # a late START/OTHER never reopens a finished run
        started = old["started_at"] if old and old["started_at"] is not None else (
            p.time if p.event_type in (EventType.START, EventType.RUNNING) else None)
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
    def write(self, w: LineageWriter) -> None:
        placeholders = [r for r in self.jobs.values() if r.pop("_placeholder", False)]
        named = {id(r) for r in placeholders}
        w.add_jobs(placeholders)  # never overwrite a parent job that exists
        w.put_jobs([r for r in self.jobs.values() if id(r) not in named])
        w.put_runs(list(self.runs.values()))
        w.put_datasets(list(self.datasets.values()))
        w.add_versions(list(self.versions.values()))
        w.put_edges(list(self.edges.values()))


def _valid(ds: Any) -> bool:
    return isinstance(ds, dict) and isinstance(ds.get("namespace"), str) and isinstance(ds.get("name"), str)


def _datasets(e: dict[str, Any]) -> list[dict[str, Any]]:
    return [ds for key in ("inputs", "outputs") for ds in e.get(key) or [] if _valid(ds)]


def derive(w: LineageWriter, events: list[Parsed]) -> None:
    """Fold events (in the order given) into the derived tables, in the writer's transaction."""
    if not events:
        return
    batch = Batch()
    batch.load(w, events)
    for p in events:
        batch.add(p)
    batch.write(w)
