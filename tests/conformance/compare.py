"""Comparing what both servers answer: a normal form for what legitimately varies between two correct servers
(timestamp formats and precision, the order of lists whose order the API leaves open) and a diff that names
each field that still differs with both values. Intended differences are filtered by :mod:`.differences`.

Version UUIDs: with :data:`.differences.VERSIONS_BY_PLACE`, each server's dataset and job versions are listed
oldest first and every UUID of a version is replaced by ``<kind>:<ns>:<name>#<n>`` (its place in that history), so
what is compared is which version each reference points to.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .differences import ABSENT_VALUE, marquez_clock, unexplained

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


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# where Marquez shows a dataset version's row UUID (random: not the name-based one a run's dataset versions carry)
_ROW_VERSION = {"currentVersion", "datasetVersion"}
# a job's row UUID (random in Marquez, shown nowhere else): compared as present or not
_ROW_UUID = {"parentJobUuid"}


@dataclass
class Normaliser:
    """One server's normal form. ``versions`` maps the UUIDs its dataset version listings show to the version's
    place in its dataset's history; with them, a row-UUID field (a dataset's or job's ``currentVersion``, a
    listed version's ``version``, a column-lineage node's ``datasetVersion``) holds that place, or ``<uuid>`` when
    it names no listed version (a job's ``currentVersion``: Marquez shows that row UUID nowhere else); a
    ``parentJobUuid`` (a job's random row UUID in Marquez) is ``<uuid>``. A run's ``jobVersion`` and dataset
    versions are name-based UUIDs in Marquez: compared as they are."""

    versions: dict[str, str] | None = None

    def __call__(self, value: Any, key: str = "", parent: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self(v, k, key) for k, v in value.items()}
        if isinstance(value, list):
            items = [self(v, key, parent) for v in value]
            return sorted(items, key=_sort_key) if key in UNORDERED else items
        if isinstance(value, str):
            if _ISO.match(value):
                try:
                    return timestamp(value)
                except ValueError:
                    return value
            if key in _ROW_UUID and _UUID.match(value):
                return "<uuid>"
            if self.versions is not None and key in _ROW_VERSION:
                return self.versions.get(value, "<uuid>" if _UUID.match(value) else value)
            if self.versions is not None and key == "version" and parent == "versions":  # a listed version
                return self.versions.get(value, value)
        return value


def _sort_key(v: Any) -> str:
    """An item's identity where it has one (a node's id, a dataset's namespace and name, an edge's ends), so two
    servers' lists sort alike even where the items differ; else its whole content."""
    if isinstance(v, dict):
        ref = v.get("datasetVersionId")
        inner: dict[str, Any] = ref if isinstance(ref, dict) else v
        for fields in (("id",), ("namespace", "name", "field"), ("namespace", "name"), ("origin", "destination"),
                       ("name",)):
            if all(isinstance(inner.get(f), str) for f in fields):
                return json.dumps([inner[f] for f in fields])
    return json.dumps(v, sort_keys=True, default=str)


def _short(v: Any) -> str:
    text = json.dumps(v, sort_keys=True, default=str) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 400 or os.environ.get("FULL") else text[:400] + f"… ({len(text)} chars)"


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
        left = unexplained(self.found, marquez_clock(timestamp(started), timestamp(ended)))
        assert self.compared, "nothing was compared"
        if left:
            lines = [f"{p}: ours={_short(a)} marquez={_short(b)}" for p, a, b in left]
            raise AssertionError(f"{len(left)} unexplained difference(s) from Marquez over {self.compared} "
                                 "comparisons:\n  " + "\n  ".join(lines))
