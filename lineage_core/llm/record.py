"""A stored LLM response: what a hit replays, and what the call that produced it cost.

One JSON document per entry (the ``json`` materializer's format, so any reader can open it): the status,
the content type, then either the whole ``body`` or — for a streamed response — its server-sent ``events``
exactly as they arrived (each with its terminating blank line), so a replay yields the same chunks in the
same order. ``produced`` holds the producing call's model, token usage, latency and cost: what every hit
of the entry saved.

Nothing of the request is stored, and no response header but the content type. The Responses API echoes
some caller fields in its answer (``user``, ``safety_identifier``, ``metadata``, ``prompt_cache_key``):
they are blanked before storing and filled from the asking request on replay, so an entry never holds a
user id and a hit echoes what its own caller sent.
"""

from __future__ import annotations

import json
import mmap
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .pricing import normalise_usage

FORMAT = 1
_ECHOED: dict[str, Any] = {"user": None, "safety_identifier": None, "metadata": {}, "prompt_cache_key": None}
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_FAILED_EVENTS = (b'"type":"error"', b'"type": "error"', b"response.failed", b"event: error")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    content_type: str
    body: bytes | None = None
    events: tuple[bytes, ...] | None = None
    produced: Mapping[str, Any] = field(default_factory=dict)  # model, usage, latency_s, cost_usd

    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {"format": FORMAT, "status": self.status, "content_type": self.content_type,
                               "produced": dict(self.produced)}
        if self.events is not None:
            doc["events"] = [e.decode() for e in self.events]
        else:
            doc["body"] = (self.body or b"").decode()
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes | memoryview | mmap.mmap) -> StoredResponse:
        """A stored response; ValueError when the bytes are not one (a damaged or foreign entry)."""
        doc = json.loads(bytes(data))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("status"), int):
            raise ValueError("not a stored LLM response")
        events = doc.get("events")
        return cls(doc["status"], str(doc.get("content_type") or "application/json"),
                   None if events is not None else str(doc.get("body", "")).encode(),
                   None if events is None else tuple(str(e).encode() for e in events), doc.get("produced") or {})

    @property
    def chunks(self) -> tuple[bytes, ...]:
        return self.events if self.events is not None else (self.body or b"",)


def split_events(raw: bytes) -> tuple[bytes, ...]:
    """A server-sent-event stream cut into its events, each with its terminator (joined: ``raw`` again)."""
    out, pos = [], 0
    for m in _EVENT_END.finditer(raw):
        out.append(raw[pos:m.end()])
        pos = m.end()
    if pos < len(raw):
        out.append(raw[pos:])
    return tuple(out)


def stream_failed(events: Iterable[bytes]) -> bool:
    """Whether a 200 stream reported an error event (never stored)."""
    return any(marker in e for e in events for marker in _FAILED_EVENTS)


def _data(event: bytes) -> Any:
    """The JSON of an event's ``data:`` lines, or None."""
    lines = [ln[5:].strip() for ln in event.splitlines() if ln.startswith(b"data:")]
    if not lines or lines == [b"[DONE]"]:
        return None
    try:
        return json.loads(b"\n".join(lines))
    except ValueError:
        return None


def _echo_holder(doc: Any) -> dict[str, Any] | None:
    """The object that echoes the caller's fields: a Responses object, bare or inside a stream event."""
    if isinstance(doc, dict) and doc.get("object") == "response":
        return doc
    inner = doc.get("response") if isinstance(doc, dict) else None
    return inner if isinstance(inner, dict) and inner.get("object") == "response" else None


def _rewrite(blob: bytes, values: Mapping[str, Any], event: bool) -> bytes:
    """``blob`` (a JSON body or one event) with the echoed fields set to ``values``; unchanged (byte for byte)
    when they already are."""
    doc = _data(blob) if event else _loads(blob)
    holder = _echo_holder(doc)
    if holder is None or all(holder.get(k, v) == v for k, v in values.items() if k in holder):
        return blob
    for k, v in values.items():
        if k in holder:
            holder[k] = v
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    if not event:
        return text
    head = b"".join(ln + b"\n" for ln in blob.splitlines() if not ln.startswith(b"data:") and ln.strip())
    return head + b"data: " + text + b"\n\n"


def _loads(blob: bytes) -> Any:
    try:
        return json.loads(blob)
    except ValueError:
        return None


def scrub(record: StoredResponse) -> StoredResponse:
    """The record with the caller's echoed fields blanked (what is stored)."""
    return _with_echo(record, _ECHOED)


def refill(record: StoredResponse, request_body: Mapping[str, Any]) -> StoredResponse:
    """The record echoing the asking request's own fields (what a hit replays)."""
    values = {k: request_body[k] for k in _ECHOED if request_body.get(k) is not None}
    return _with_echo(record, values) if values else record


def _with_echo(record: StoredResponse, values: Mapping[str, Any]) -> StoredResponse:
    if record.events is not None:
        events = tuple(_rewrite(e, values, True) for e in record.events)
        return StoredResponse(record.status, record.content_type, None, events, record.produced)
    body = _rewrite(record.body or b"", values, False)
    return StoredResponse(record.status, record.content_type, body, None, record.produced)


def usage_and_model(body: bytes | None, events: tuple[bytes, ...] | None) -> tuple[dict[str, int] | None, str | None]:
    """The token usage and the answering model a response reports (a stream: its last event that says)."""
    docs = [_data(e) for e in events] if events is not None else [_loads(body or b"")]
    usage, model = None, None
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        holder = _echo_holder(doc) or doc
        usage = normalise_usage(holder.get("usage")) or usage
        model = holder.get("model") if isinstance(holder.get("model"), str) else model
    return usage, model
