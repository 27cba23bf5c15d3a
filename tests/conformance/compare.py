"""Comparing what both servers answer: a normal form for what legitimately varies between two correct servers
(timestamp formats and precision, the order of lists whose order the API leaves open) and a diff that names
each field that still differs with both values. Intended differences are filtered by :mod:`.differences`.

Version UUIDs: each server's dataset and job versions are listed oldest first and every UUID is replaced by
``<kind>:<ns>:<name>#<n>`` (its place in that history), but only while :data:`.differences.OWN_VERSION_UUIDS`
says our UUIDs are our own; otherwise the UUIDs themselves are compared.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .differences import ABSENT_VALUE, ingest_clock, unexplained

if TYPE_CHECKING:
    from .session import Pair

# ISO-8601 with an offset, and Java's ZonedDateTime.toString() (``2026-12-01T21:50Z[UTC]``, Marquez's run args)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})(\[[A-Za-z_/+-]+\])?$")
# lists whose order the API does not define (sets in Marquez's model, or in an order its SQL leaves open: search
# binds ORDER BY to a parameter, so its results come in no defined order): compared sorted
UNORDERED = {"inputs", "outputs", "tags", "labels", "inEdges", "outEdges", "inputDatasetVersions",
             "outputDatasetVersions", "inputFields", "graph", "owners", "columnLineage", "results"}


def timestamp(text: str) -> str:
    """ISO-8601 in any offset and precision -> UTC, milliseconds (rounded: we keep float seconds, PostgreSQL
    microseconds), ``Z``."""
    t = dt.datetime.fromisoformat(text.split("[", 1)[0].replace("Z", "+00:00")).astimezone(dt.timezone.utc)
    t = t.replace(microsecond=0) + dt.timedelta(milliseconds=round(t.microsecond / 1000))
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@dataclass
class Normaliser:
    """One server's normal form; ``versions`` maps that server's version UUIDs to their place in history."""

    versions: dict[str, str] = field(default_factory=dict)

    def __call__(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items()}
        if isinstance(value, list):
            items = [self(v, key) for v in value]
            return sorted(items, key=_sort_key) if key in UNORDERED else items
        if isinstance(value, str):
            if _ISO.match(value):
                try:
                    return timestamp(value)
                except ValueError:
                    return value
            if value in self.versions:
                return self.versions[value]
            if "#" in value:  # a nodeId with a version: dataset:ns:name#uuid
                head, _, tail = value.rpartition("#")
                if tail in self.versions:
                    return f"{head}#{self.versions[tail]}"
        return value


def _sort_key(v: Any) -> str:
    if isinstance(v, dict) and "id" in v and isinstance(v["id"], str):
        return v["id"]
    return json.dumps(v, sort_keys=True, default=str)


def _short(v: Any) -> str:
    text = json.dumps(v, sort_keys=True, default=str) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 400 else text[:400] + f"… ({len(text)} chars)"


ABSENT = ABSENT_VALUE


def diff(ours: Any, theirs: Any, path: str) -> list[tuple[str, Any, Any]]:
    """(path, ours, Marquez's) for every leaf that differs; a list of another length is one entry."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = []
        for k in sorted(set(ours) | set(theirs)):
            out += diff(ours.get(k, ABSENT), theirs.get(k, ABSENT), f"{path}.{k}")
        return out
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        out = []
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            label = a["id"] if isinstance(a, dict) and a.get("id") == (b or {}).get("id") and isinstance(
                a.get("id"), str) else str(i)
            out += diff(a, b, f"{path}[{label}]")
        return out
    return [] if ours == theirs else [(path, ours, theirs)]


def compare_ids(ours: list[Any], theirs: list[Any], path: str) -> list[tuple[str, Any, Any]]:
    """A listing's identities: what only one side lists, then (same set) the order."""
    a, b = [json.dumps(x) for x in ours], [json.dumps(x) for x in theirs]
    out: list[tuple[str, Any, Any]] = []
    if set(a) != set(b):
        out.append((f"{path}.only", sorted(set(a) - set(b)), sorted(set(b) - set(a))))
    elif a != b:
        out.append((f"{path}.order", ours, theirs))
    return out


@dataclass
class Report:
    """Differences gathered over one comparison; ``check()`` fails on every one no intended difference explains,
    each named with both values."""

    found: list[tuple[str, Any, Any]] = field(default_factory=list)
    compared: int = 0

    def compare(self, ours: Any, theirs: Any, path: str, norm: tuple[Callable[..., Any], Callable[..., Any]]) -> None:
        self.compared += 1
        self.found += diff(norm[0](ours), norm[1](theirs), path)

    def check(self, pair: Pair) -> None:
        started, ended = pair.marquez.window
        left = unexplained(self.found, ingest_clock(timestamp(started), timestamp(ended)))
        assert self.compared, "nothing was compared"
        if left:
            lines = [f"{p}: ours={_short(a)} marquez={_short(b)}" for p, a, b in left]
            raise AssertionError(f"{len(left)} unexplained difference(s) from Marquez over {self.compared} "
                                 "comparisons:\n  " + "\n  ".join(lines))
