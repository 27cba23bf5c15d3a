"""Ingest OpenLineage events from any producer (ours, Airflow's provider, Spark, dbt) into the store.

Raw events are the source of truth (table ``ol_events``, keyed by the hash of the canonical event, so
the same event twice is stored once); jobs, runs, datasets, dataset versions and the job<->dataset
edges are derived from them and can be rebuilt (:func:`rebuild`). Facets we do not know are kept
verbatim. Semantics mirror Marquez where its UI depends on them: dispatch by the ``schemaURL`` suffix
(missing means RunEvent), COMPLETE/FAIL/ABORT map to COMPLETED/FAILED/ABORTED and anything else to
RUNNING, times are the events' own, a non-UUID runId maps to a name-based UUID, the parent facet links
a job to its parent job, and edges run dataset -> job for inputs and job -> dataset for outputs.
A batch is validated whole before anything is written: a bad event stores nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import LineageError
from ..hashing.content import hash_bytes
from ..store import schema as t

if TYPE_CHECKING:
    from ..store import Store

EVENT_TYPES = {"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"}
_STATE = {"COMPLETE": "COMPLETED", "FAIL": "FAILED", "ABORT": "ABORTED"}


class IngestError(LineageError, ValueError):
    """One or more events are malformed; nothing from the batch was stored."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class Parsed:
    kind: str
    payload: dict[str, Any]
    time: float
    event_type: str | None = None
    run_id: str | None = None
    job: tuple[str, str] | None = None


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0


def _time(value: Any) -> float:
    if not isinstance(value, str):
        raise ValueError("eventTime must be an ISO-8601 date-time string")
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def _run_uuid(run_id: str) -> str:
    try:
        return str(uuid.UUID(run_id))
    except ValueError:  # Marquez: UUID.nameUUIDFromBytes (an MD5 name-based UUID, version 3)
        return str(uuid.UUID(bytes=hashlib.md5(run_id.encode()).digest(), version=3))  # noqa: S324


def _job(obj: Any, where: str) -> tuple[str, str]:
    if not isinstance(obj, dict) or not isinstance(obj.get("namespace"), str) or not isinstance(obj.get("name"), str):
        raise ValueError(f"{where} needs string 'namespace' and 'name'")
    return obj["namespace"], obj["name"]


def parse(event: Any) -> Parsed:
    """Check one event's shape; raises ValueError naming what is wrong."""
    if not isinstance(event, dict):
        raise ValueError("an event must be a JSON object")
    for required in ("eventTime", "producer"):
        if required not in event:
            raise ValueError(f"missing required field '{required}'")
    when = _time(event["eventTime"])
    suffix = str(event.get("schemaURL") or "").rsplit("/", 1)[-1]
    kind = suffix if suffix in ("JobEvent", "DatasetEvent") else "RunEvent"
    if kind == "DatasetEvent":
        _job(event.get("dataset"), "dataset")
        return Parsed(kind, event, when)
    job = _job(event.get("job"), "job")
    if kind == "JobEvent":
        return Parsed(kind, event, when, job=job)
    run = event.get("run")
    if not isinstance(run, dict) or not isinstance(run.get("runId"), str) or not run["runId"]:
        raise ValueError("a RunEvent needs run.runId")
    event_type = event.get("eventType") or "OTHER"
    if event_type not in EVENT_TYPES:
        raise ValueError(f"eventType {event_type!r} is not one of {sorted(EVENT_TYPES)}")
    return Parsed(kind, event, when, event_type, _run_uuid(run["runId"]), job)


def merge_facets(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """Facets accumulate; a facet sent again replaces the old one; ``_deleted: true`` removes it."""
    merged = dict(old or {})
    for key, facet in (new or {}).items():
        if isinstance(facet, dict) and facet.get("_deleted") is True:
            merged.pop(key, None)
        else:
            merged[key] = facet
    return merged


def _event_id(event: dict[str, Any]) -> str:
    return hash_bytes(json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


def ingest(store: Store, events: Iterable[Any]) -> IngestResult:
    """Store events (all or nothing); the same event twice is stored once."""
    parsed: list[Parsed] = []
    problems: list[str] = []
    for i, event in enumerate(events):
        try:
            parsed.append(parse(event))
        except (ValueError, TypeError) as e:
            problems.append(f"event {i}: {e}")
    if problems:
        raise IngestError(problems)
    result = IngestResult()
    now = time.time()
    with store.engine.begin() as c:
        for p in parsed:
            row = {"id": _event_id(p.payload), "kind": p.kind, "event_type": p.event_type, "run_id": p.run_id,
                   "job_namespace": p.job[0] if p.job else None, "job_name": p.job[1] if p.job else None,
                   "event_time": p.time, "payload": p.payload, "received_at": now}
            if c.execute(store._insert_or_ignore(t.ol_events).returning(t.ol_events.c.id), row).first() is None:
                result.duplicates += 1
                continue
            result.stored += 1
            _derive(c, store, p)
    return result


def rebuild(store: Store) -> int:
    """Re-derive every table from the raw events (after a fix in derivation, or to repair)."""
    with store.engine.begin() as c:
        for table in (t.ol_edges, t.ol_dataset_versions, t.ol_datasets, t.ol_runs, t.ol_jobs):
            c.execute(table.delete())
        rows = c.execute(sa.select(t.ol_events.c.payload).order_by(t.ol_events.c.event_time, t.ol_events.c.id))
        count = 0
        for (payload,) in rows.all():
            _derive(c, store, parse(payload))
            count += 1
    return count


# -- derivation ---------------------------------------------------------------------------------
def _derive(c: sa.Connection, store: Store, p: Parsed) -> None:
    e = p.payload
    if p.kind == "DatasetEvent":
        _dataset(c, store, e["dataset"], p.time, None)
        return
    assert p.job is not None
    parent = ((e.get("run") or {}).get("facets") or {}).get("parent") if p.kind == "RunEvent" else None
    _upsert_job(c, store, p.job, (e.get("job") or {}).get("facets"), p.time, p.run_id, parent)
    if p.kind == "RunEvent":
        _upsert_run(c, p, parent)
    for direction, key in (("in", "inputs"), ("out", "outputs")):
        for ds in e.get(key) or []:
            if isinstance(ds, dict) and isinstance(ds.get("namespace"), str) and isinstance(ds.get("name"), str):
                _dataset(c, store, ds, p.time, p.run_id if direction == "out" else None)
                _edge(c, store, p.job, (ds["namespace"], ds["name"]), direction, p.run_id, p.time)


def _upsert_job(c: sa.Connection, store: Store, job: tuple[str, str], facets: Any, when: float,
                run_id: str | None, parent: Any) -> None:
    jc = t.ol_jobs.c
    old = c.execute(sa.select(jc.facets, jc.created_at).where(jc.namespace == job[0], jc.name == job[1])).first()
    merged = merge_facets(old[0] if old else None, facets)
    kind = "STREAM" if (merged.get("jobType") or {}).get("processingType") == "STREAMING" else "BATCH"
    values: dict[str, Any] = {"type": kind, "facets": merged, "updated_at": when}
    if run_id:
        values["latest_run_id"] = run_id
    if isinstance(parent, dict) and isinstance(parent.get("job"), dict):
        pns, pname = parent["job"].get("namespace"), parent["job"].get("name")
        if isinstance(pns, str) and isinstance(pname, str):
            values.update(parent_namespace=pns, parent_name=pname)
            # As Marquez: a parent job named before its own events arrive exists from now on.
            c.execute(store._insert_or_ignore(t.ol_jobs), {"namespace": pns, "name": pname, "type": "BATCH",
                                                           "facets": {}, "created_at": when, "updated_at": when})
    if old is None:
        c.execute(t.ol_jobs.insert().values(namespace=job[0], name=job[1], created_at=when, **values))
    else:
        c.execute(t.ol_jobs.update().where(jc.namespace == job[0], jc.name == job[1]).values(**values))


def _upsert_run(c: sa.Connection, p: Parsed, parent: Any) -> None:
    rc = t.ol_runs.c
    assert p.run_id is not None and p.job is not None and p.event_type is not None
    old = c.execute(sa.select(rc.facets, rc.state, rc.started_at, rc.ended_at).where(rc.run_id == p.run_id)).first()
    facets = merge_facets(old[0] if old else None, (p.payload.get("run") or {}).get("facets"))
    state = _STATE.get(p.event_type, "RUNNING")
    if old is not None and old[1] in ("COMPLETED", "FAILED", "ABORTED") and state == "RUNNING":
        state = old[1]  # a late START/OTHER never reopens a finished run
    started = old[2] if old and old[2] is not None else (p.time if p.event_type in ("START", "RUNNING") else None)
    ended = p.time if p.event_type in _STATE else (old[3] if old else None)
    parent_run = None
    if isinstance(parent, dict) and isinstance(parent.get("run"), dict) and parent["run"].get("runId"):
        parent_run = _run_uuid(str(parent["run"]["runId"]))
    values = {"job_namespace": p.job[0], "job_name": p.job[1], "state": state, "started_at": started,
              "ended_at": ended, "facets": facets, "updated_at": p.time}
    if parent_run:
        values["parent_run_id"] = parent_run
    if old is None:
        c.execute(t.ol_runs.insert().values(run_id=p.run_id, created_at=p.time, **values))
    else:
        c.execute(t.ol_runs.update().where(rc.run_id == p.run_id).values(**values))


def _dataset(c: sa.Connection, store: Store, ds: dict[str, Any], when: float, run_id: str | None) -> None:
    dc = t.ol_datasets.c
    key = (ds["namespace"], ds["name"])
    old = c.execute(sa.select(dc.facets).where(dc.namespace == key[0], dc.name == key[1])).first()
    facets = merge_facets(old[0] if old else None, ds.get("facets"))
    version = (facets.get("version") or {}).get("datasetVersion") if isinstance(facets.get("version"), dict) else None
    values: dict[str, Any] = {"facets": facets, "updated_at": when}
    if version:
        values["current_version"] = str(version)
        c.execute(store._insert_or_ignore(t.ol_dataset_versions), {
            "namespace": key[0], "name": key[1], "version": str(version), "run_id": run_id,
            "facets": ds.get("facets") or {}, "created_at": when,
        })
    if old is None:
        c.execute(t.ol_datasets.insert().values(namespace=key[0], name=key[1], created_at=when, **values))
    else:
        c.execute(t.ol_datasets.update().where(dc.namespace == key[0], dc.name == key[1]).values(**values))


def _edge(c: sa.Connection, store: Store, job: tuple[str, str], ds: tuple[str, str], direction: str,
          run_id: str | None, when: float) -> None:
    stmt = store._insert(t.ol_edges)
    stmt = stmt.on_conflict_do_update(
        index_elements=["job_namespace", "job_name", "dataset_namespace", "dataset_name", "direction"],
        set_={"last_run_id": stmt.excluded.last_run_id, "updated_at": stmt.excluded.updated_at},
    )
    c.execute(stmt, {"job_namespace": job[0], "job_name": job[1], "dataset_namespace": ds[0],
                     "dataset_name": ds[1], "direction": direction, "last_run_id": run_id, "updated_at": when})
