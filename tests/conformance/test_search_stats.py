"""Search, the dashboard's stats, and the events page: what the rest of the UI reads."""

from __future__ import annotations

from typing import Any

from .compare import Report, compare_ids
from .session import Pair
from .world import both, compare_get, norms


def test_search(pair: Pair) -> None:
    """Marquez's search returns its hits in no defined order (its SQL binds ORDER BY to a parameter): hits are
    compared as sets, and where ``limit`` cut Marquez's answer short (an arbitrary subset), only their number."""
    r = Report()
    queries: list[dict[str, Any]] = [
        {"q": "orders"}, {"q": "step", "limit": 100}, {"q": "STEP", "limit": 100}, {"q": "%", "limit": 100},
        {"q": "nightly", "filter": "JOB"}, {"q": "nightly", "filter": "DATASET"}, {"q": "d", "sort": "UPDATE_AT",
                                                                                    "limit": 5},
        {"q": "out", "namespace": "s3://states", "limit": 100}, {"q": "no-such-thing"}, {"q": " "},
        {"q": "d", "filter": "TABLE"},
    ]
    for query in queries:
        label = "search[" + "&".join(f"{k}={v}" for k, v in query.items()) + "]"
        (so, o), (sm, m) = both(pair, "/search", **query)
        r.compare(so, sm, f"{label}.status", (lambda v: v, lambda v: v))
        if so == sm == 200 and len(m["results"]) >= query.get("limit", 10):
            r.compare([len(o["results"]), o["totalCount"]], [len(m["results"]), m["totalCount"]], f"{label}.count",
                      norms(pair))
        elif so == sm == 200:
            r.compare(o, m, label, norms(pair))
    r.check(pair)


PERIODS = [{"period": "DAY"}, {"period": "DAY", "timezone": "UTC"}, {"period": "WEEK", "timezone": "UTC"},
           {"period": "WEEK", "timezone": "Europe/Berlin"}, {"period": "WEEK", "timezone": "America/Los_Angeles"}]


def test_stats(pair: Pair) -> None:
    """Both are asked twice if the hour turns between the two answers (the intervals are relative to now)."""
    for attempt in (0, 1):
        r = Report()
        for kind in ("lineage-events", "jobs", "datasets", "sources"):
            for query in PERIODS:
                label = f"stats[{kind}?" + "&".join(f"{k}={v}" for k, v in query.items()) + "]"
                compare_get(r, pair, label, f"/stats/{kind}", **query)
        if not r.found or attempt:
            break
    r.check(pair)


def test_stats_refusals(pair: Pair) -> None:
    r = Report()
    refused: list[tuple[str, dict[str, str]]] = [
        ("lineage-events", {"period": "WEEK"}), ("lineage-events", {"period": "MONTH"}), ("jobs", {}),
        ("datasets", {"period": "day"})]
    for kind, query in refused:
        compare_get(r, pair, f"stats[{kind}?{query}]", f"/stats/{kind}", **query)
    r.check(pair)


def _events(body: Any) -> list[Any]:
    return [[e.get("eventTime"), e.get("eventType"), (e.get("run") or {}).get("runId"),
             (e.get("job") or {}).get("name")] for e in body["events"]]


def test_events_page(pair: Pair) -> None:
    r = Report()
    pages: list[dict[str, Any]] = [
        {"limit": 1000}, {"limit": 1000, "sortDirection": "asc"}, {"limit": 7, "offset": 5},
        {"limit": 1000, "after": "2025-01-01T00:00:00Z", "before": "2030-01-01T00:00:00Z"}]
    for query in pages:
        label = "events[" + "&".join(f"{k}={v}" for k, v in query.items()) + "]"
        (so, o), (sm, m) = both(pair, "/events/lineage", **query)
        r.compare(so, sm, f"{label}.status", (lambda v: v, lambda v: v))
        if so == sm == 200:
            n = norms(pair)
            r.found += compare_ids(n[0](_events(o)), n[1](_events(m)), label)
            r.compare(o.get("totalCount"), m.get("totalCount"), f"{label}.totalCount", n)
            theirs = {json_key(e): e for e in m["events"]}
            for e in o["events"]:
                if json_key(e) in theirs:
                    r.compare(e, theirs[json_key(e)], f"{label}.event[{json_key(e)}]", n)
    r.check(pair)


def json_key(e: dict[str, Any]) -> str:
    return f"{(e.get('run') or {}).get('runId')}:{e.get('eventType')}:{e.get('eventTime')}"
