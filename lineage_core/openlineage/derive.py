"""Jobs, runs, datasets, dataset versions and job<->dataset edges derived from raw OpenLineage events, with
Marquez 0.51's semantics (``OpenLineageDao``, ``JobVersionDao``, ``OpenLineageService``).

Set-based per batch: the rows the batch touches are read in a few keyed queries (under
:meth:`~lineage_core.store.ol_write.LineageWriter.lock`), the events are folded onto them in memory in the order
given (so a batch means what the same events sent one by one mean), and the rows that changed are written back
with one multi-row upsert per table.

- **Runs**: COMPLETE/FAIL/ABORT map to COMPLETED/FAILED/ABORTED and anything else to RUNNING; ``startedAt`` is
  the last event that maps to RUNNING and ``endedAt`` the terminal one. Unlike Marquez, a RUNNING (or START,
  OTHER) after the end never reopens a finished run, nor moves its start past its end. Facets accumulate per
  run; a facet sent again replaces the old one and ``_deleted: true`` removes it.
- **Dataset versions** (:mod:`.versions`): every dataset a run writes gets a version per write; a run reads the
  dataset's current version (or makes the first one). A COMPLETE makes the versions its run wrote current (a
  streaming job's every write does), so after a FAIL or ABORT a dataset keeps its previous version and schema.
- **Job versions**: when a run finishes, its job's version is computed from what the run read and wrote and
  the job's location; it becomes the job's current version, and the job's edges in the graph are that
  version's inputs and outputs, and only those (an edge a job stopped writing goes away). Until a first run
  finishes, the job's edges are what its runs read and wrote so far (Marquez draws none).
- **Jobs**: a job's facets are its latest run's job facets; a ``parent`` facet links it to its parent job and
  run, both created (as Marquez does) when not seen yet, and the job's graph node shows its parent's run.
- **Column lineage** (:mod:`.column_lineage`): a ``columnLineage`` facet on an output links its fields to the
  fields of the versions the run read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..ids import run_uuid
from ..runs import EventType, RunStatus
from . import column_lineage
from . import versions as v
from .event_parts import (
    ParentRef,
    Parsed,
    datasets_of,
    facet,
    facet_sides,
    merge_facets,
    model_job,
    parent_of,
    symlinks_of,
    touched,
    version_of,
)

if TYPE_CHECKING:
    from ..store.ol_write import LineageWriter

Key = tuple[str, str]
VKey = tuple[str, str, str]
Row = dict[str, Any]
_STATE = {EventType.COMPLETE: RunStatus.COMPLETED, EventType.FAIL: RunStatus.FAILED, EventType.ABORT: RunStatus.ABORTED}
_FINISHED = set(_STATE.values())


@dataclass
class Batch:
    """The derived rows one batch of events touches, loaded, folded and written back (only what changed)."""

    jobs: dict[Key, Row] = field(default_factory=dict)
    runs: dict[str, Row] = field(default_factory=dict)
    datasets: dict[Key, Row] = field(default_factory=dict)
    versions: dict[VKey, Row] = field(default_factory=dict)
    run_versions: dict[tuple[str, str, str, str, str], Row] = field(default_factory=dict)
    edges: dict[tuple[str, str, str, str, str], Row] = field(default_factory=dict)
    job_edges: dict[Key, dict[tuple[str, str, str, str, str], Row]] = field(default_factory=dict)  # by job
    columns: dict[str, Row] = field(default_factory=dict)
    sources: dict[str, Row] = field(default_factory=dict)
    symlinks: dict[Key, Row] = field(default_factory=dict)  # names a symlinks facet gives, first seen first
    dirty: set[tuple[str, Any]] = field(default_factory=set)  # ("job", key), ("run", id), … rows to write
    current_only: set[Key] = field(default_factory=set)  # datasets only made current (not locked, not merged)
    new_versions: set[Key] = field(default_factory=set)  # jobs whose current version changed: edges replaced
    reads: dict[str, dict[Key, str]] = field(default_factory=dict)  # run -> dataset -> version it read
    writes: dict[str, dict[Key, tuple[float, str]]] = field(default_factory=dict)  # run -> dataset -> (when, v)

    # -- load ---------------------------------------------------------------------------------
    def load(self, w: LineageWriter, events: list[Parsed], lock: bool = True) -> None:
        jobs, datasets, runs = touched(events)
        if lock:
            w.lock(jobs, datasets)
        self.jobs.update(w.jobs(sorted(jobs)))
        self.runs.update(w.runs(sorted(runs)))
        for rv in w.run_versions(sorted(runs)):
            self._run_version(rv)
        earlier = {k for out in self.writes.values() for k in out} - datasets  # written before, made current now
        self.datasets.update(w.datasets(sorted(datasets | earlier)))
        wanted = {(*k, row["current_version"]) for k, row in self.datasets.items() if row["current_version"]}
        wanted |= {(*k, read) for reads in self.reads.values() for k, read in reads.items()}
        for p in events:  # the versions the events write (a version's facets merge over its writes)
            run_id = p.run_id if p.kind == "RunEvent" else None
            writes = [p.payload["dataset"]] if p.kind == "DatasetEvent" else [
                ds for side in ("inputs", "outputs") for ds in datasets_of(p.payload, side)]
            wanted |= {(ds["namespace"], ds["name"], version_of(ds, run_id)[1]) for ds in writes}
        self.versions.update({(r["namespace"], r["name"], r["version"]): r for r in w.versions(sorted(wanted))})

    def _run_version(self, rv: Row) -> None:
        key = (rv["run_id"], rv["direction"], rv["namespace"], rv["name"], rv["version"])
        self.run_versions[key] = rv
        ds = (rv["namespace"], rv["name"])
        if rv["direction"] == "in":
            self.reads.setdefault(rv["run_id"], {})[ds] = rv["version"]
        else:
            seen = self.writes.setdefault(rv["run_id"], {})
            if ds not in seen or rv["created_at"] >= seen[ds][0]:
                seen[ds] = (rv["created_at"], rv["version"])

    # -- fold ---------------------------------------------------------------------------------
    def add(self, p: Parsed) -> None:
        e = p.payload
        if p.kind == "DatasetEvent":
            self._dataset(e["dataset"], p, None, "out", made_current=True)
            return
        assert p.job is not None
        parent = parent_of(p)  # read before the job is renamed: it compares the names the event gives
        p = replace(p, job=model_job(p, parent))
        assert p.job is not None
        job = self._job(p, parent)
        streaming = job["type"] == "STREAM"
        run_id = p.run_id if p.kind == "RunEvent" else None
        if run_id:
            self._run(p, job, parent)
        inputs, outputs = datasets_of(e, "inputs"), datasets_of(e, "outputs")
        for ds in inputs:
            self._dataset(ds, p, run_id, "in")
        for ds in outputs:
            self._dataset(ds, p, run_id, "out", made_current=streaming)
        location = _location(p)
        if run_id is None:  # a JobEvent describes the job: its datasets are the job's version
            self._version(p.job, None, [(d["namespace"], d["name"]) for d in inputs],
                          [(d["namespace"], d["name"]) for d in outputs], location, p.time)
        elif (p.event_type in _STATE and not streaming) or (streaming and (inputs or outputs)):
            if p.event_type is EventType.COMPLETE and not streaming:
                for written, (_, version) in self.writes.get(run_id, {}).items():
                    self._make_current(written, version)
            self._version(p.job, run_id, list(self.reads.get(run_id, {})), list(self.writes.get(run_id, {})),
                          location, p.time)

    def _job(self, p: Parsed, parent: ParentRef | None) -> Row:
        assert p.job is not None
        e = p.payload
        row = self._job_row(p.job, p.time)
        newest = p.time >= row["updated_at"] or row["latest_run_id"] is None
        row["updated_at"] = max(row["updated_at"], p.time)
        facets = (e.get("job") or {}).get("facets")
        if p.run_id is None:  # a JobEvent: its facets are the job's; it has no run
            row["facets"] = merge_facets({}, facets)
            row["current_run_id"] = row["made_location"] = None
        else:
            run = self.runs.get(p.run_id)
            run_facets = merge_facets((run or {}).get("job_facets"), facets)
            if newest:
                row["latest_run_id"] = p.run_id
                row["facets"] = run_facets
                row["current_run_id"] = p.run_id
                row["made_location"] = None  # its own event describes it again
        job_type = facet(row["facets"], "jobType").get("processingType")
        row["type"] = "STREAM" if job_type == "STREAMING" else "BATCH"
        if parent:
            self._parent_run(p, parent, row, newest)
        self.dirty.add(("job", p.job))
        return row

    def _job_row(self, key: Key, when: float) -> Row:
        row = self.jobs.get(key)
        if row is None:
            row = self.jobs[key] = {"namespace": key[0], "name": key[1], "type": "BATCH", "parent_namespace": None,
                                    "parent_name": None, "facets": {}, "latest_run_id": None, "created_at": when,
                                    "updated_at": when, "current_version": None, "current_run_id": None,
                                    "made_location": None}
            self.dirty.add(("job", key))
        return row

    def _parent_run(self, p: Parsed, parent: ParentRef, child: Row, newest: bool) -> None:
        """As Marquez (``OpenLineageDao.findParentJobRow``): the parent job is the job of the parent run when
        that run exists and belongs to the job the facet names; otherwise the parent job is filed in the child's
        namespace and the parent run made (or, when the facet's run id is a run of another job, a run with a
        name-based UUID of its own made or updated by every such event), with the event's state and nominal
        times. The child's graph node shows its parent's current run; a job's parent, once known, stays."""
        assert p.job is not None
        existing = self.runs.get(parent.run_id)
        if existing is not None and (existing["job_namespace"], existing["job_name"]) == (parent.namespace,
                                                                                        parent.name):
            pjob = self._job_row((parent.namespace, parent.name), p.time)
        else:
            pkey = (p.job[0], parent.name)
            pjob = self._job_row(pkey, p.time)
            run_id = parent.run_id if existing is None else parent.other_run_id
            if run_id != p.run_id:
                old = self.runs.get(run_id) if existing is not None else None
                row = old or self._new_run(run_id, p.time)
                self._transition(row, p, finished=old is not None and old["state"] in _FINISHED)
                start, end = _nominal(p)
                row.update(job_namespace=pkey[0], job_name=pkey[1], updated_at=max(row["updated_at"], p.time),
                           nominal_start_time=start if start is not None else row.get("nominal_start_time"),
                           nominal_end_time=end if end is not None else row.get("nominal_end_time"))
                self.runs[run_id] = row
                pjob["current_run_id"] = pjob["latest_run_id"] = run_id
                pjob["updated_at"] = max(pjob["updated_at"], p.time)
                pjob["type"], pjob["made_location"] = child["type"], _location(p) or ""
                self.dirty |= {("run", run_id), ("job", pkey)}
        if child["parent_name"] is None:
            child["parent_namespace"], child["parent_name"] = pjob["namespace"], pjob["name"]
        if newest:
            child["current_run_id"] = pjob["current_run_id"]

    @staticmethod
    def _new_run(run_id: str, when: float) -> Row:
        return {"run_id": run_id, "parent_run_id": None, "facets": {}, "created_at": when, "updated_at": when,
                "started_at": None, "ended_at": None, "state": RunStatus.RUNNING, "job_facets": {},
                "job_version": None, "nominal_start_time": None, "nominal_end_time": None}

    @staticmethod
    def _transition(row: Row, p: Parsed, finished: bool) -> None:
        """A run's state after one more event: a terminal event ends it; any other sets its start, unless the
        run has finished (the spec's terminal states: a late event never reopens it)."""
        state = _STATE.get(p.event_type) if p.event_type else None
        if state is not None:
            row["state"], row["ended_at"] = state, p.time
        elif not finished or (row["ended_at"] is not None and p.time <= row["ended_at"]):
            row["started_at"] = p.time if row["started_at"] is None else max(row["started_at"], p.time)

    def _run(self, p: Parsed, job: Row, parent: ParentRef | None) -> None:
        assert p.run_id is not None and p.job is not None and p.event_type is not None
        old = self.runs.get(p.run_id)
        row = old or self._new_run(p.run_id, p.time)
        self._transition(row, p, finished=old is not None and old["state"] in _FINISHED)
        e = p.payload
        row.update(job_namespace=p.job[0], job_name=p.job[1], updated_at=max(row["updated_at"], p.time),
                   facets=merge_facets(row["facets"], (e.get("run") or {}).get("facets")),
                   job_facets=merge_facets(row.get("job_facets"), (e.get("job") or {}).get("facets")))
        if job["latest_run_id"] == p.run_id:
            job["facets"] = row["job_facets"]
        self.runs[p.run_id] = row
        if parent:
            row["parent_run_id"] = parent.run_id
        self.dirty.add(("run", p.run_id))

    def _dataset(self, ds: dict[str, Any], p: Parsed, run_id: str | None, direction: str,
                 made_current: bool = False) -> None:
        key = (ds["namespace"], ds["name"])
        facets: dict[str, Any] = ds["facets"] if isinstance(ds.get("facets"), dict) else {}
        source, written = version_of(ds, run_id)
        row = self.datasets.get(key)
        if row is None:
            row = self.datasets[key] = {"namespace": key[0], "name": key[1], "facets": {}, "current_version": None,
                                        "created_at": p.time, "updated_at": p.time, "source_name": source}
        row["facets"] = merge_facets(row["facets"], facets)
        row["updated_at"] = max(row["updated_at"], p.time)
        row["source_name"] = row.get("source_name") or source  # as Marquez: the first event's source stays
        self.current_only.discard(key)
        self.dirty.add(("dataset", key))
        if source not in self.sources:
            self.sources[source] = {"id": v.row_id("source", source), "name": source, "created_at": p.time}
        for link, kind in symlinks_of(ds):
            if link != key and link not in self.symlinks:
                self.symlinks[link] = {"namespace": link[0], "name": link[1], "target_namespace": key[0],
                                       "target_name": key[1], "type": kind, "created_at": p.time}
        if direction == "in" and row["current_version"]:
            version = row["current_version"]
        else:
            version = written
            if (direction == "in" and run_id is not None) or made_current:  # a JobEvent's read makes none current
                row["current_version"] = version
        vkey = (*key, version)
        vrow = self.versions.get(vkey)
        fields = v.union_fields(None, v.schema_fields(facets))
        if vrow is None:
            vrow = self.versions[vkey] = {"namespace": key[0], "name": key[1], "version": version, "run_id": None,
                                          "facets": {}, "created_at": p.time, "fields": [], "first_fields": fields}
        if direction == "out":
            vrow["run_id"] = run_id
        shown, run_facets = facet_sides(ds, facets, direction)
        vrow["facets"] = merge_facets(vrow["facets"], shown)
        vrow["fields"] = v.union_fields(vrow.get("fields"), fields)
        self.dirty.add(("version", vkey))
        if run_id is not None:
            rv_key = (run_id, direction, key[0], key[1], version)
            rv = self.run_versions.get(rv_key) or {"run_id": run_id, "direction": direction, "namespace": key[0],
                                                   "name": key[1], "version": version, "facets": {},
                                                   "created_at": p.time}
            rv["facets"] = merge_facets(rv["facets"], run_facets)
            self._run_version(rv)
            self.dirty.add(("run_version", rv_key))
        if p.job is not None:
            edge = self._edge(p.job, key, direction, run_id, p.time)
            edge.update(last_run_id=run_id, updated_at=p.time)
            if self.jobs[p.job]["current_version"] is None:
                edge["current"] = True  # no run of the job has finished: what its runs touch so far is drawn
        if run_id is not None and direction == "out":
            for row_ in column_lineage.rows(key, version, facets, self.reads.get(run_id, {}), self.versions, p.time):
                old = self.columns.get(row_["id"])
                self.columns[row_["id"]] = {**row_, "created_at": old["created_at"]} if old else row_

    def _make_current(self, key: Key, version: str) -> None:
        row = self.datasets.get(key)
        if row is None:
            return
        row["current_version"] = version
        if ("dataset", key) not in self.dirty:
            self.current_only.add(key)

    def _version(self, job: Key, run_id: str | None, inputs: list[Key], outputs: list[Key], location: str | None,
                 when: float) -> None:
        """The job's version from what it read and wrote: current, with exactly its edges."""
        row = self.jobs[job]
        version = v.job_version(job[0], job[1], inputs, outputs, location)
        if run_id is not None:
            self.runs[run_id]["job_version"] = version
        row["current_version"] = version
        self.new_versions.add(job)
        for edge in self.job_edges.get(job, {}).values():
            edge["current"] = False
        for direction, keys in (("in", inputs), ("out", outputs)):
            for ds in keys:
                self._edge(job, ds, direction, run_id, when)["current"] = True

    def _edge(self, job: Key, ds: Key, direction: str, run_id: str | None, when: float) -> Row:
        key = (*job, *ds, direction)
        edge = self.edges.get(key)
        if edge is None:
            edge = self.edges[key] = {"job_namespace": job[0], "job_name": job[1], "dataset_namespace": ds[0],
                                      "dataset_name": ds[1], "direction": direction, "last_run_id": run_id,
                                      "updated_at": when, "current": None}
            self.job_edges.setdefault(job, {})[key] = edge
        return edge

    # -- write --------------------------------------------------------------------------------
    def write(self, w: LineageWriter) -> None:
        dirty: dict[str, list[Any]] = {}
        for kind, key in self.dirty:
            dirty.setdefault(kind, []).append(key)
        w.put_jobs([self.jobs[k] for k in dirty.get("job", [])])
        w.put_runs([self.runs[k] for k in dirty.get("run", [])])
        w.put_datasets([self.datasets[k] for k in dirty.get("dataset", [])])
        w.put_current_versions([self.datasets[k] for k in self.current_only])
        w.put_versions([self.versions[k] for k in dirty.get("version", [])])
        w.put_run_versions([self.run_versions[k] for k in dirty.get("run_version", [])])
        w.clear_current_edges(sorted(self.new_versions))
        w.put_edges(list(self.edges.values()))
        w.put_column_lineage(list(self.columns.values()))
        w.add_sources(list(self.sources.values()))
        w.add_symlinks(list(self.symlinks.values()))


def _location(p: Parsed) -> str | None:
    """The ``sourceCodeLocation`` job facet's URL of an event."""
    url = facet((p.payload.get("job") or {}).get("facets"), "sourceCodeLocation").get("url")
    return url if isinstance(url, str) else None


def _nominal(p: Parsed) -> tuple[float | None, float | None]:
    """The ``nominalTime`` facet's start and end of a RunEvent."""
    nominal = facet((p.payload.get("run") or {}).get("facets"), "nominalTime")
    return v.parse_time(nominal.get("nominalStartTime")), v.parse_time(nominal.get("nominalEndTime"))


def derive(w: LineageWriter, events: list[Parsed], lock: bool = True) -> None:
    """Fold events (in the order given) into the derived tables, in the writer's transaction (``lock``: take the
    locks first; the caller took them, or holds the whole lineage, otherwise)."""
    if not events:
        return
    batch = Batch()
    batch.load(w, events, lock)
    for p in events:
        batch.add(p)
    batch.write(w)


__all__ = ["Batch", "Parsed", "derive", "merge_facets", "run_uuid", "touched"]
