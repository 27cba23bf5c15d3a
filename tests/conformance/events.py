"""Small builders for the synthetic part of the corpus: OpenLineage events with the spec's envelope,
facets with ``_producer``/``_schemaURL``, and times on one clock so every event lands inside the last day
(the stats endpoints only count that far back)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

PRODUCER = "https://github.com/lineage-core/lineage-core/tree/main/tests/conformance"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
JOB_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent"
DATASET_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"
FACETS = "https://openlineage.io/spec/facets"


@dataclass(frozen=True)
class Story:
    """Events that must arrive in this order (one job's runs, a chain that shares datasets). Stories touch
    disjoint jobs and datasets, so the sender may post different stories concurrently; a ``last`` story shares
    namespaces with others (whose creation time is the first event a server *ingests* in Marquez) and its events
    are the newest, so it is sent after all the others; a ``first`` story names what several stories share (the
    ``default`` source, whose creation time is likewise the first event naming it a server ingests), so it is sent
    before all the others."""

    name: str
    events: list[dict[str, Any]] = field(default_factory=list)
    last: bool = False
    first: bool = False  # sent alone before every other story (what it names is first seen there on both servers)


@dataclass(frozen=True)
class Clock:
    """``base`` is a whole hour a few hours ago: ``at(minutes)`` is that many minutes later, ISO-8601 UTC."""

    base: dt.datetime

    @classmethod
    def recent(cls, hours_ago: int = 6) -> Clock:
        now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
        return cls(now - dt.timedelta(hours=hours_ago))

    def shifted(self, seconds: int) -> Clock:
        """The same clock a few seconds later: each story gets its own, so no two events of different stories
        share a time (the events page orders by time alone, and Marquez breaks ties in no defined order)."""
        return Clock(self.base + dt.timedelta(seconds=seconds))

    def at(self, minutes: float) -> str:
        return (self.base + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def run_id(*parts: object) -> str:
    """A stable UUID per name (runs must keep their id across events and across both servers)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "conformance/" + "/".join(map(str, parts))))


def facet(facet_name: str, version: str = "1-0-0", /, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": f"{FACETS}/{version}/{facet_name}.json#/$defs/{facet_name}",
            **fields}


def schema(*cols: tuple[str, str]) -> dict[str, Any]:
    return facet("SchemaDatasetFacet", "1-1-1", fields=[{"name": n, "type": t} for n, t in cols])


def dataset(namespace: str, name: str, **facets: Any) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, "facets": facets}


def run_event(kind: str, when: str, run: str, namespace: str, job: str, *, inputs: list[dict[str, Any]] | None = None,
              outputs: list[dict[str, Any]] | None = None, run_facets: dict[str, Any] | None = None,
              job_facets: dict[str, Any] | None = None, producer: str = PRODUCER) -> dict[str, Any]:
    return {"eventType": kind, "eventTime": when, "producer": producer, "schemaURL": RUN_EVENT,
            "run": {"runId": run, "facets": run_facets or {}},
            "job": {"namespace": namespace, "name": job, "facets": job_facets or {}},
            "inputs": inputs or [], "outputs": outputs or []}


def parent(run: str, namespace: str, job: str, root: tuple[str, str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"run": {"runId": run}, "job": {"namespace": namespace, "name": job}}
    if root:
        body["root"] = {"run": {"runId": root[0]}, "job": {"namespace": root[1], "name": root[2]}}
    return facet("ParentRunFacet", "1-1-0", **body)


def job_type(job: str, integration: str, processing: str = "BATCH") -> dict[str, Any]:
    return facet("JobTypeJobFacet", "2-0-3", jobType=job, integration=integration, processingType=processing)


def nominal(start: str, end: str | None = None) -> dict[str, Any]:
    return facet("NominalTimeRunFacet", "1-0-1", nominalStartTime=start, **({"nominalEndTime": end} if end else {}))


def error_message(message: str) -> dict[str, Any]:
    return facet("ErrorMessageRunFacet", "1-0-1", message=message, programmingLanguage="python",
                 stackTrace=f"Traceback (most recent call last):\nRuntimeError: {message}")
