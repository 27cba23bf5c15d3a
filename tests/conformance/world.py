"""Reading one server the way the Marquez web UI does: what exists (namespaces, jobs, datasets, runs) and each
server's version history, from which :class:`.compare.Normaliser` maps version UUIDs to their place in it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlencode

from .compare import ABSENT, Normaliser, Report, compare_ids, diff, timestamp
from .differences import VERSIONS_BY_PLACE
from .session import Loaded, Pair

Key = tuple[str, str]
_cache: dict[str, Any] = {}
_marquez: dict[str, tuple[int, Any]] = {}
_pool = ThreadPoolExecutor(2, thread_name_prefix="conformance")  # ours and Marquez asked at once


def q(segment: str) -> str:
    return quote(segment, safe="")


def url(path: str, **query: Any) -> str:
    return f"/api/v1{path}" + (f"?{urlencode(query, doseq=True)}" if query else "")


def get(s: Loaded, path: str, **query: Any) -> tuple[int, Any]:
    """One GET; Marquez's answers are kept (it holds the same corpus for both of our backends: asked once), but for
    the stats, whose intervals move with the clock."""
    where = url(path, **query)
    if s.name != "marquez" or path.startswith("/stats"):
        return s.client.get_json(where)
    if where not in _marquez:
        _marquez[where] = s.client.get_json(where)
    return _marquez[where]


def both(pair: Pair, path: str, **query: Any) -> tuple[tuple[int, Any], tuple[int, Any]]:
    """The same GET to both servers at once: (ours, Marquez's)."""
    theirs = _pool.submit(get, pair.marquez, path, **query)
    return get(pair.ours, path, **query), theirs.result()


def _items(s: Loaded, path: str, key: str) -> list[dict[str, Any]]:
    status, body = get(s, path, limit=1000)
    return list(body.get(key) or []) if status == 200 and isinstance(body, dict) else []


def namespaces(s: Loaded) -> list[str]:
    return [n["name"] for n in _items(s, "/namespaces", "namespaces")]


def jobs(s: Loaded) -> list[Key]:
    return [(j["namespace"], j["name"]) for j in _items(s, "/jobs", "jobs")]


def datasets(s: Loaded) -> list[Key]:
    return [(d["namespace"], d["name"]) for ns in namespaces(s)
            for d in _items(s, f"/namespaces/{q(ns)}/datasets", "datasets")]


def runs(s: Loaded, job: Key) -> list[str]:
    return [r["id"] for r in _items(s, f"/namespaces/{q(job[0])}/jobs/{q(job[1])}/runs", "runs")]


def union(pair: Pair, of: Any) -> list[Any]:
    """Everything either server knows (a thing only one of them has is a difference the comparison reports)."""
    return sorted(set(of(pair.ours)) | set(of(pair.marquez)))


def _history(s: Loaded, ds: Key) -> dict[str, str]:
    """Each listed version of a dataset -> ``dataset:<ns>:<name>#<n>``, n its place, oldest first."""
    path = f"/namespaces/{q(ds[0])}/datasets/{q(ds[1])}/versions"
    listed = list(reversed(_items(s, path, "versions")))  # both list newest first
    listed.sort(key=lambda v: timestamp(v["createdAt"]) if v.get("createdAt") else "")
    return {v["version"]: f"dataset:{ds[0]}:{ds[1]}#{i}" for i, v in enumerate(listed) if v.get("version")}


def _normaliser(s: Loaded, keys: list[Key]) -> Normaliser:
    if s.name not in _cache:
        versions: dict[str, str] = {}
        for ds in keys:
            versions.update(_history(s, ds))
        _cache[s.name] = Normaliser(versions)
    return _cache[s.name]  # type: ignore[no-any-return]


def norms(pair: Pair) -> tuple[Normaliser, Normaliser]:
    """Both servers' normal forms; with :data:`VERSIONS_BY_PLACE`, their version UUIDs by their place in history
    (each server's histories read once, both at once)."""
    if not VERSIONS_BY_PLACE:
        return Normaliser(), Normaliser()
    keys = union(pair, datasets) if {pair.ours.name, pair.marquez.name} - set(_cache) else []
    theirs = _pool.submit(_normaliser, pair.marquez, keys)
    return _normaliser(pair.ours, keys), theirs.result()


def compare_get(report: Report, pair: Pair, label: str, path: str, pick: Any = None, ids: str | None = None,
                **query: Any) -> None:
    """GET ``path`` from both and compare: the status, then (both 200) the bodies or ``pick(body)`` of them, or for
    a listing (``ids``: its key) what each lists, in which order, and ``totalCount``; both refused: the error
    bodies' ``code``."""
    (so, o), (sm, m) = both(pair, path, **query)
    report.compared += 1
    report.found += diff(so, sm, f"{label}.status")
    n = norms(pair)
    if so == sm == 200 and ids:
        report.found += compare_ids(_keys(o, ids), _keys(m, ids), label)
        report.found += diff(o.get("totalCount", ABSENT), m.get("totalCount", ABSENT), f"{label}.totalCount")
    elif so == sm == 200:
        report.found += diff(n[0](pick(o) if pick else o), n[1](pick(m) if pick else m), label)
    elif so == sm:
        report.found += diff(_code(o), _code(m), f"{label}.error.code")


def _keys(body: Any, key: str) -> list[Any]:
    return [[x.get("namespace"), x.get("name")] if "namespace" in x else x.get("name") for x in body.get(key) or []]


def _code(body: Any) -> Any:
    return body.get("code", ABSENT) if isinstance(body, dict) else ABSENT
