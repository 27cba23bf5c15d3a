"""Marquez's identifiers and time strings, computed as Marquez 0.51 computes them, so the same events give the
same version UUIDs here and there (``marquez.common.Utils``, ``OpenLineageDao``, ``Columns``).

- A **dataset version** is ``UUID.nameUUIDFromBytes`` (MD5, version 3) of the colon-joined namespace, source
  name, dataset name (twice: name and physical name), schema fields (each ``name:TYPE:description``, the type
  upper-cased, sorted as Java's ``TreeSet`` of triples sorts them, nulls first), lifecycle state (``""`` when
  none) and the run's UUID (absent for a static event). Every write by a run is a version, with or without a
  ``version`` facet; the facet is kept among the version's facets and names no version.
- A **job version** is the same hash over the namespace, the job name, the sorted ``namespace:name`` of the
  run's input datasets, of its output datasets, and the job's source-code location (when there is one).
- A **parent run**'s UUID is its ``runId`` when that is a UUID, else a name-based UUID (RFC 4122's URL
  namespace) of ``namespace.parentJob.runId``, where an Airflow-style ``dag.task`` job name counts as ``dag``.
- Times are Java's: an ``Instant`` as ``ISO_INSTANT`` prints it (fractions in groups of three digits), and a run's
  ``args`` hold ``ZonedDateTime.toString()`` of the nominal times, in UTC (seconds dropped when zero, the zone
  named: ``2026-11-22T08:00Z[UTC]``).

Marquez hands out random row UUIDs for ``Dataset.currentVersion``, ``DatasetVersion.version`` and
``Job.currentVersion``, and these name-based ones in a run's ``jobVersion`` and dataset version ids; we serve
the name-based UUID everywhere, so a version reads the same wherever it appears and survives a rebuild.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import uuid
from collections.abc import Iterable
from typing import Any

NAMESPACE_URL = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")
Key = tuple[str, str]


def name_uuid(data: bytes) -> str:
    """Java's ``UUID.nameUUIDFromBytes``: MD5, version 3."""
    return str(uuid.UUID(bytes=hashlib.md5(data).digest(), version=3))  # noqa: S324 - Marquez's identity, no secret


def row_id(*parts: str) -> str:
    """A fixed-size key for a row whose natural key (unbounded names) no index could hold."""
    data = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def _join(*parts: str | None) -> str:
    """Guava's ``Joiner.on(':').skipNulls()``."""
    return ":".join(p for p in parts if p is not None)


def _java(text: str | None) -> tuple[int, bytes]:
    """A sort key in Java's order: nulls first, then ``String.compareTo`` (UTF-16 code units)."""
    return (0, b"") if text is None else (1, text.encode("utf-16-be", "surrogatepass"))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def schema_fields(facets: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The ``schema`` facet's fields (None without a schema facet)."""
    schema = (facets or {}).get("schema")
    fields = schema.get("fields") if isinstance(schema, dict) else None
    return [f for f in fields if isinstance(f, dict)] if isinstance(fields, list) else None


def union_fields(old: list[dict[str, Any]] | None, new: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A version's fields: every field any of its events' ``schema`` named, first seen first; as Marquez keys
    them, a name with another type is another field, and a field seen again takes the new description."""
    out = [dict(f) for f in old or []]
    index = {(f["name"], f.get("type")): i for i, f in enumerate(out)}
    for f in new or []:
        if not isinstance(f.get("name"), str):
            continue
        entry = {"name": f["name"], "type": _text(f.get("type")), "description": _text(f.get("description"))}
        key = (entry["name"], entry["type"])
        if key in index:
            out[index[key]] = entry
        else:
            index[key] = len(out)
            out.append(entry)
    return out


def dataset_version(namespace: str, source: str, name: str, fields: list[dict[str, Any]] | None,
                    lifecycle: str, run_id: str | None) -> str:
    """The version a dataset gets when a run writes it (or reads it before anything wrote it)."""
    triples = {(_text(f.get("name")), None if f.get("type") is None else str(f["type"]).upper(),
                _text(f.get("description"))) for f in fields or []}
    ordered = sorted(triples, key=lambda t: tuple(_java(x) for x in t))
    text = _join(namespace, source, name, name, ":".join(_join(*t) for t in ordered), lifecycle, run_id)
    return name_uuid(text.encode("utf-8"))


def schema_version(namespace: str, name: str, fields: list[dict[str, Any]] | None) -> str:
    """A version's schema version (``currentSchemaVersion``): the fields' names and types, sorted, with the
    dataset's namespace (``[^a-z:/A-Z0-9\\-_.@+]`` made ``_``, as Marquez names namespaces) and name."""
    pairs = {(_text(f.get("name")), _text(f.get("type"))) for f in fields or []}
    ordered = sorted(pairs, key=lambda p: (_java(p[0]), _java(p[1])))
    text = _join(re.sub(r"[^a-z:/A-Z0-9\-_.@+]", "_", namespace), name, ":".join(_join(*p) for p in ordered))
    return name_uuid(text.encode("utf-8"))


def _datasets(keys: Iterable[Key]) -> str:
    ordered = sorted(set(keys), key=lambda k: (_java(k[0]), _java(k[1])))
    return ":".join(f"{ns}:{name}" for ns, name in ordered)


def job_version(namespace: str, name: str, inputs: Iterable[Key], outputs: Iterable[Key],
                location: str | None) -> str:
    """The version of a job whose run read ``inputs`` and wrote ``outputs``."""
    text = _join(namespace, name, _datasets(inputs), _datasets(outputs), location)
    return name_uuid(text.encode("utf-8"))


def parent_run_uuid(namespace: str, job_name: str, run_id: str) -> str:
    """The UUID Marquez gives the parent run a ``parent`` facet names."""
    try:
        return str(uuid.UUID(run_id)) if len(run_id) == 36 else _name_based(namespace, job_name, run_id)
    except ValueError:
        return _name_based(namespace, job_name, run_id)


def _name_based(namespace: str, job_name: str, run_id: str) -> str:
    dag = job_name.rsplit(".", 1)[0] if "." in job_name else job_name
    return name_based_uuid(namespace, dag, run_id)


def name_based_uuid(*parts: str) -> str:
    """Marquez's ``Utils.toNameBasedUuid``: a version-3 UUID of the dot-joined parts in RFC 4122's URL namespace."""
    return name_uuid(NAMESPACE_URL.bytes + ".".join(parts).encode("utf-8"))


def parent_job_name(parent: str, child: str) -> str:
    """The parent job's name: the facet's, unless it names the child itself (then the ``dag`` of ``dag.task``)."""
    return parent.rsplit(".", 1)[0] if parent == child and "." in parent else parent


# -- times ---------------------------------------------------------------------------------------
def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc)


def _fraction(micros: int) -> str:
    if not micros:
        return ""
    return f".{micros // 1000:03d}" if micros % 1000 == 0 else f".{micros:06d}"


def instant(ts: float | None) -> str | None:
    """An ``Instant`` as Marquez's JSON prints it: ``2026-11-22T10:05:00Z``, ``…:00.500Z``. (Cached: the same
    times recur across a page's runs, jobs and datasets, and formatting is most of a graph node's cost.)"""
    return None if ts is None else _instant(ts)


@functools.lru_cache(maxsize=65536)
def _instant(ts: float) -> str:
    d = _utc(ts)
    micros = d.microsecond
    spec = "seconds" if not micros else "milliseconds" if micros % 1000 == 0 else "microseconds"
    return d.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def zoned_string(ts: float) -> str:
    """``ZonedDateTime.toString()`` of a time Marquez's JSON reader put in its ``UTC`` zone:
    ``2026-11-22T10:00Z[UTC]``, ``…T10:00:30Z[UTC]``, ``…T10:00:30.250Z[UTC]``."""
    d = _utc(ts)
    text = d.strftime("%Y-%m-%dT%H:%M")
    if d.second or d.microsecond:
        text += f":{d.second:02d}" + _fraction(d.microsecond)
    return text + "Z[UTC]"


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an ISO-8601 date-time (UTC when it names no zone); None if it is none."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).timestamp()
