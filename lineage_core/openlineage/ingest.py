"""Ingest OpenLineage events from any producer (ours, Airflow's provider, Spark, dbt) into the store.

Raw events are the source of truth (table ``ol_events``, keyed by the hash of the canonical event, so
the same event twice is stored once); jobs, runs, datasets, dataset versions and the job<->dataset
edges are derived from them and can be rebuilt (:func:`rebuild`). Facets we do not know are kept
verbatim. Semantics mirror Marquez where its UI depends on them: dispatch by the ``schemaURL`` suffix
(missing means RunEvent), COMPLETE/FAIL/ABORT map to COMPLETED/FAILED/ABORTED and anything else to
RUNNING, times are the events' own, a non-UUID runId maps to a name-based UUID, the parent facet links
a job to its parent job, and edges run dataset -> job for inputs and job -> dataset for outputs.
A batch is validated whole before anything is written: a bad event stores nothing.

Validation is structural, with pydantic models of the parts we read (the rest of an event is kept verbatim,
unread): times, run ids, job and dataset names, the ``inputs``/``outputs`` lists, the parent facet and the
dataset version facet. Names are what both backends can hold and index: at most :data:`MAX_NAME` bytes of
UTF-8 (so a name of 1,024 characters or more is always refused), namespaces :data:`MAX_NAMESPACE`, no control
characters (PostgreSQL refuses an index row over 2,704 bytes, and a job<->dataset edge is keyed by two
namespaces and two names); and the whole event is a JSON value either
backend stores as it is (:func:`check_json`: no NUL, no lone surrogate, 64-bit integers, finite numbers,
at most :data:`MAX_DEPTH` levels deep).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from ..errors import LineageError
from ..hashing.content import hash_bytes
from ..ids import run_uuid
from ..runs import EventType
from ..store.ol_write import LineageWriter, write_lineage
from .derive import Parsed, derive, touched
from .event_parts import model_job, parent_of
from .stored_values import (
    MAX_DEPTH,
    MAX_NAME,
    MAX_NAMESPACE,
    MAX_VERSION,
    Name,
    Namespace,
    check_json,
    check_name,
    plain_text,
)

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["EVENT_TYPES", "MAX_DEPTH", "MAX_NAME", "MAX_NAMESPACE", "IngestError", "IngestResult", "Name",
           "Namespace", "Parsed", "check_json", "check_name", "ingest", "parse", "plain_text", "rebuild"]

log = logging.getLogger(__name__)
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
    skipped: dict[int, str] = field(default_factory=dict)  # event index -> what was wrong (``skip_invalid``)


# -- the parts of an event we read -----------------------------------------------------------------
class _Part(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


Facets = dict[str, dict[str, Any] | None]  # every facet is an object (or null); kept whole


class _JobRef(_Part):
    namespace: Namespace
    name: Name


class _Job(_JobRef):
    facets: Facets | None = None


class _Version(_Part):
    datasetVersion: Annotated[str, StringConstraints(max_length=MAX_VERSION)] | None = None


class _Dataset(_Part):
    namespace: Namespace
    name: Name
    facets: Facets | None = None  # its "version" facet: _Version


class _Identifier(_Part):
    namespace: Namespace
    name: Name
    type: str | None = None


class _Symlinks(_Part):
    identifiers: list[_Identifier] | None = None


class _ParentRun(_Part):
    runId: Name


class _Parent(_Part):
    job: _JobRef | None = None
    run: _ParentRun | None = None


class _Run(_Part):
    runId: Name
    facets: Facets | None = None  # its "parent" facet: _Parent


class _Event(_Part):
    eventTime: str
    producer: str
    schemaURL: str | None = None


class _JobEvent(_Event):
    job: _Job
    inputs: list[_Dataset] | None = None
    outputs: list[_Dataset] | None = None


class _RunEvent(_JobEvent):
    run: _Run | None = None
    eventType: str | None = None


class _DatasetEvent(_Event):
    dataset: _Dataset


_MODELS: dict[str, type[_Event]] = {"RunEvent": _RunEvent, "JobEvent": _JobEvent, "DatasetEvent": _DatasetEvent}


def _time(value: str) -> float:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        return parsed.timestamp()
    except (ValueError, OverflowError) as e:
        raise ValueError(f"eventTime {value[:64]!r} is not an ISO-8601 date-time: {e}") from None


_PLAIN_WORDS = {"missing": "is required", "model_type": "must be a JSON object", "dict_type": "must be a JSON object",
                "list_type": "must be a JSON array", "string_type": "must be a string",
                "string_pattern_mismatch": "contains a control character"}


def _problem(e: ValidationError, within: str = "") -> str:
    """The first thing wrong, where it is (``outputs.0.name: is required``), and how many more there are."""
    first = e.errors(include_url=False, include_input=False, include_context=False)[0]
    where = ".".join([within] * bool(within) + [str(part) for part in first["loc"]]) or "the event"
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    words = _PLAIN_WORDS.get(first["type"], first["msg"].removeprefix("Value error, "))
    return f"{where}: {words}{more}"


def _facets_we_read(shape: _Event) -> None:
    """The facets derivation reads (a run's parent, a dataset's version and other names), where given, are what we
    read."""
    datasets: list[tuple[str, _Dataset]] = []
    if isinstance(shape, _DatasetEvent):
        datasets.append(("dataset", shape.dataset))
    elif isinstance(shape, _JobEvent):
        for key in ("inputs", "outputs"):
            datasets += [(f"{key}.{i}", ds) for i, ds in enumerate(getattr(shape, key) or [])]
    checks: list[tuple[str, Facets | None, str, type[_Part]]] = [
        (f"{where}.facets.{name}", ds.facets, name, model) for where, ds in datasets
        for name, model in (("version", _Version), ("symlinks", _Symlinks))]
    if isinstance(shape, _RunEvent) and shape.run is not None:
        checks.append(("run.facets.parent", shape.run.facets, "parent", _Parent))
    for where, facets, name, model in checks:
        facet = (facets or {}).get(name)
        if facet is not None:
            try:
                model.model_validate(facet)
            except ValidationError as e:
                raise ValueError(_problem(e, where)) from None


def parse(event: Any, json_checked: bool = False) -> Parsed:
    """Check one event's shape; raises ValueError naming what is wrong. ``json_checked``: the event passed
    :func:`check_json` already (the server checks every body it takes)."""
    if not isinstance(event, dict):
        raise ValueError("an event must be a JSON object")
    for required in ("eventTime", "producer"):
        if required not in event:
            raise ValueError(f"missing required field '{required}'")
    if not json_checked:
        check_json(event)
    suffix = str(event.get("schemaURL") or "").rsplit("/", 1)[-1]
    kind = suffix if suffix in ("JobEvent", "DatasetEvent") else "RunEvent"
    model = _MODELS[kind]
    try:
        shape = model.model_validate(event)
    except ValidationError as e:
        raise ValueError(_problem(e)) from None
    _facets_we_read(shape)
    when = _time(shape.eventTime)
    if isinstance(shape, _DatasetEvent):
        return Parsed(kind, event, when)
    assert isinstance(shape, _JobEvent)
    job = (shape.job.namespace, shape.job.name)
    if not isinstance(shape, _RunEvent):
        return Parsed(kind, event, when, job=job)
    if shape.run is None:
        raise ValueError("a RunEvent needs run.runId")
    event_type = shape.eventType or EventType.OTHER.value
    if event_type not in EVENT_TYPES:
        raise ValueError(f"eventType {event_type[:64]!r} is not one of {sorted(EVENT_TYPES)}")
    parsed = Parsed(kind, event, when, EventType(event_type), run_uuid(shape.run.runId), job)
    named = model_job(parsed, parent_of(parsed))  # a child's job is <parent>.<child>: that must fit too
    if named is not None and named != job:
        try:
            check_name(named[1])
        except ValueError as e:
            raise ValueError(f"the child job's name {named[1][:64]!r}… (its parent's, a dot, its own) {e}") from None
    return parsed


def _event_id(event: dict[str, Any]) -> str:
    return hash_bytes(json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


def ingest(store: Store, events: Iterable[Any], *, skip_invalid: bool = False,
           json_checked: bool = False) -> IngestResult:
    """Store events (all or nothing); the same event twice is stored once. ``skip_invalid``: store the valid
    events and list what was wrong with the others in ``skipped`` (the sync of our own runs: one run whose
    names no store can take must not keep every other run out of the lineage tables). ``json_checked``: see
    :func:`parse`."""
    parsed: list[Parsed] = []
    problems: dict[int, str] = {}
    for i, event in enumerate(events):
        try:
            parsed.append(parse(event, json_checked))
        except (ValueError, TypeError) as e:
            problems[i] = str(e)
    if problems and not skip_invalid:
        raise IngestError([f"event {i}: {problem}" for i, problem in problems.items()])
    ensure_derived(store)
    result = IngestResult(skipped=problems)
    now = time.time()
    unique: dict[str, Parsed] = {}
    for p in parsed:
        unique.setdefault(_event_id(p.payload), p)
    result.duplicates = len(parsed) - len(unique)
    with write_lineage(store) as w:
        w.lock(*touched(list(unique.values()))[:2])  # before the first read: see LineageWriter.lock
        for seen in w.stored_event_ids(list(unique)):
            del unique[seen]
            result.duplicates += 1
        rows = [{"id": event_id, "kind": p.kind, "event_type": p.event_type, "run_id": p.run_id,
                 "job_namespace": p.job[0] if p.job else None, "job_name": p.job[1] if p.job else None,
                 "event_time": p.time, "payload": p.payload, "received_at": now} for event_id, p in unique.items()]
        w.add_events(rows)
        derive(w, list(unique.values()), lock=False)
    result.stored = len(unique)
    return result


def rebuild(store: Store) -> int:
    """Re-derive every table from the raw events (after a fix in derivation, an upgrade, or to repair). A stored
    event that today's validation refuses (stored by an older version) is an IngestError naming it, and nothing
    changes. No ingest derives while a rebuild runs."""
    with write_lineage(store) as w:
        w.lock_everything()
        count = _rebuild(w)
    _current.add(store.url)
    return count


def _rebuild(w: LineageWriter, skip_invalid: bool = False) -> int:
    events: list[Parsed] = []
    problems: list[str] = []
    for payload in w.event_payloads():
        try:
            events.append(parse(payload))
        except (ValueError, TypeError) as e:
            problems.append(f"stored event {_event_id(payload)[:20]}…: {e}")
    if problems and not skip_invalid:
        raise IngestError(problems)
    for problem in problems:
        log.warning("%s: it stays in the raw events, out of the derived tables (today's validation refuses it)",
                    problem)
    w.clear_derived()
    for i in range(0, len(events), 1000):
        derive(w, events[i : i + 1000], lock=False)
    w.rebuilt()
    return len(events)


_current: set[str] = set()  # stores whose derived tables this process found current


def derived_checked(store: Store) -> bool:
    """Whether :func:`ensure_derived` already found this store's derived tables current in this process."""
    return store.url in _current


def ensure_derived(store: Store) -> None:
    """Rebuild the derived tables if a migration asked for it (it changed what they hold); checked once per
    store and process, and done by one process (the others wait for it, then find it done). A stored event
    today's validation refuses (an older version kept it) is left out and logged, so the store answers for the
    rest; :func:`rebuild` by hand refuses it instead."""
    if store.url in _current:
        return
    with write_lineage(store) as w:
        if w.rebuild_pending():
            w.lock_everything()
            if w.rebuild_pending():  # still: nobody rebuilt it while we waited
                _rebuild(w, skip_invalid=True)
    _current.add(store.url)
