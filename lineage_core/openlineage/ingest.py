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
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import LineageError
from ..hashing.content import hash_bytes
from ..ids import run_uuid
from ..runs import EventType
from ..store.ol_write import write_lineage
from .derive import Parsed, derive

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["EVENT_TYPES", "IngestError", "IngestResult", "Parsed", "ingest", "parse", "rebuild"]

EVENT_TYPES = frozenset(e.value for e in EventType)


class IngestError(LineageError, ValueError):
    """One or more events are malformed; nothing from the batch was stored."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


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
    event_type = event.get("eventType") or EventType.OTHER.value
    if event_type not in EVENT_TYPES:
        raise ValueError(f"eventType {event_type!r} is not one of {sorted(EVENT_TYPES)}")
    return Parsed(kind, event, when, EventType(event_type), run_uuid(run["runId"]), job)


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
    unique: dict[str, Parsed] = {}
    for p in parsed:
        unique.setdefault(_event_id(p.payload), p)
    result.duplicates = len(parsed) - len(unique)
    with write_lineage(store) as w:
        for seen in w.stored_event_ids(list(unique)):
            del unique[seen]
            result.duplicates += 1
        rows = [{"id": event_id, "kind": p.kind, "event_type": p.event_type, "run_id": p.run_id,
                 "job_namespace": p.job[0] if p.job else None, "job_name": p.job[1] if p.job else None,
                 "event_time": p.time, "payload": p.payload, "received_at": now} for event_id, p in unique.items()]
        w.add_events(rows)
        derive(w, list(unique.values()))
    result.stored = len(unique)
    return result


def rebuild(store: Store) -> int:
    """Re-derive every table from the raw events (after a fix in derivation, or to repair)."""
    with write_lineage(store) as w:
        w.clear_derived()
        events = [parse(payload) for payload in w.event_payloads()]
        for i in range(0, len(events), 1000):
            derive(w, events[i : i + 1000])
    return len(events)
