"""Inputs both servers must refuse, each named, with the body and content type sent to ``POST /api/v1/lineage``.
Every one names a job ``bad.*`` (or no job at all), so a wrongly kept event shows up in the read comparisons."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .differences import STORED_BY_MARQUEZ
from .events import Clock, dataset, run_event, run_id


@dataclass(frozen=True)
class BadInput:
    name: str
    body: bytes
    content_type: str = "application/json"

    @property
    def marquez_stores(self) -> bool:
        """Marquez takes and stores it, so it is sent to us only (differences.STORED_BY_MARQUEZ says why)."""
        return self.name in STORED_BY_MARQUEZ


def _event(c: Clock, name: str, **changes: Any) -> dict[str, Any]:
    e = run_event("START", c.at(5), run_id("bad", name), "bad-inputs", f"bad.{name}",
                  inputs=[dataset("s3://bad", "in")], outputs=[dataset("s3://bad", "out")])
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target: Any = e
        for p in parents:
            target = target[p] if not p.isdigit() else target[int(p)]
        if value is _DROP:
            del target[leaf]
        else:
            target[leaf] = value
    return e


_DROP = object()


def _bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def bad_inputs(c: Clock) -> list[BadInput]:
    def body(name: str, **changes: Any) -> BadInput:
        return BadInput(name, _bytes(_event(c, name, **changes)))

    return [
        BadInput("malformed_json", b'{"eventType": "START", "eventTime": '),
        BadInput("empty_body", b""),
        BadInput("json_array", json.dumps([_event(c, "json_array")]).encode()),
        BadInput("json_string", b'"START"'),
        BadInput("text_plain", json.dumps(_event(c, "text_plain")).encode(), "text/plain"),
        body("missing_event_time", eventTime=_DROP),
        body("bad_event_time", eventTime="yesterday"),
        body("missing_run", run=_DROP),
        body("missing_run_id", run__runId=_DROP),
        body("missing_job_name", job__name=_DROP),
        body("missing_job_namespace", job__namespace=_DROP),
        body("nameless_input", inputs=[{"namespace": "s3://bad", "facets": {}}]),
        body("nameless_output", outputs=[{"namespace": "s3://bad", "facets": {}}]),
        body("namespaceless_input", inputs=[{"name": "in", "facets": {}}]),
        body("unknown_event_type", eventType="FINISHED"),
        body("missing_producer", producer=_DROP),
    ]
