"""``GET /metrics`` of a real ``lineage serve`` (off loopback), on SQLite and PostgreSQL: cached steps of this
process use the server as their store, other requests ingest events; the scrape, parsed by prometheus-client's
own parser, holds exactly the hits, the misses by reason kind, the seconds the hits saved (the producing runs'
durations, read back from the store), the ingested and rejected events, one latency series per route template
(not per path), and — PostgreSQL refusing connections — the store errors. A read token scrapes; without one
only ``LINEAGE_SERVER_ANONYMOUS_READ=lineage`` opens it; a namespace-limited token is refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lineage_core import explain
from lineage_core.hashing.content import hash_bytes
from lineage_core.keys import explain_difference
from lineage_core.runs import Reason, ReasonKind
from lineage_core.server.metrics import reason_kind
from lineage_core.store import Store

from .services.lineage_server import Server

READER, CACHER, INGESTER, LIMITED = "reader-t0ken", "cacher-t0ken", "ingester-t0ken", "limited-t0ken"
TOKEN_FILE = (f"reader:{READER}:read\ncacher:{CACHER}:cache\ningester:{INGESTER}:ingest\n"
              f"team-a:{LIMITED}:read:team-a\n")
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def test_every_reason_reads_back_as_its_kind() -> None:
    made = {
        ReasonKind.HIT: [Reason.hit("blake3:" + "a" * 64, "0190-run"), Reason.hit("blake3:" + "b" * 64, "r", True)],
        ReasonKind.FIRST_RUN: [Reason.first_run("pkg.mod.train", "team-a")],
        ReasonKind.SAME_KEY: [Reason.same_key()], ReasonKind.REFRESH: [Reason.refresh()],
        ReasonKind.CACHE_OFF: [Reason.cache_off()], ReasonKind.READS_DISABLED: [Reason.reads_disabled("write")],
        ReasonKind.EXPIRED: [Reason.expired(3600.4, 60), Reason.expired(0.2, 1e-3)],
        ReasonKind.DAMAGED: [Reason.damaged("artifact", ValueError("hash blake3:… (x)")),
                             Reason.damaged("outputs record", "line 1\nline 2")],
        ReasonKind.OUTPUT_CHANGED: [Reason.output_changed("s3://b/out dir", "was deleted", "0190-run")],
        ReasonKind.TOOK_OVER: [Reason.took_over("0190-run")],
    }
    assert set(made) == set(ReasonKind) - {ReasonKind.CHANGED}  # a new kind needs its pattern in metrics.py
    for kind, reasons in made.items():
        for r in reasons:
            assert r.kind is kind and reason_kind(str(r)) is kind, str(r)
    # what explain_difference says is a changed key, even where it starts like another kind's words
    for text in ("parameter 'lr' changed: 0.1 → 0.2", "output materializers changed (pickle → json)",
                 "same key as before (the previous entry was invalidated or never written)", "code changed: m.f",
                 "stored procedure renamed", ""):
        assert reason_kind(text) is ReasonKind.CHANGED, text
    from lineage_core.keys import KeyManifest  # and a real difference, made by the code that makes them

    a = KeyManifest.build(step="m.f", scope="d", code="c1", params={"lr": "h1"}, display={"lr": "0.1"})
    b = KeyManifest.build(step="m.f", scope="d", code="c1", params={"lr": "h2"}, display={"lr": "0.2"})
    assert [reason_kind(t) for t in explain_difference(a, b)] == [ReasonKind.CHANGED]


def scrape(server: Server, token: str | None = READER) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the server's /metrics: (name, sorted labels) -> value."""
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{server.port}/metrics",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def event(run_id: str, **change: Any) -> bytes:
    e = {"eventType": "COMPLETE", "eventTime": "2026-12-01T10:00:00Z", "run": {"runId": run_id},
         "job": {"namespace": "team-a", "name": "load"}, "inputs": [], "outputs": [],
         "producer": "https://github.com/lineage-core/tests", "schemaURL": RUN_EVENT, **change}
    return json.dumps(e).encode()


@pytest.fixture
def server(backend: str, tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "tokens").write_text(TOKEN_FILE)
    s = Server({"LINEAGE_STORE_URL": backend, "LINEAGE_SERVER_TOKEN_FILE": str(tmp_path / "tokens"),
                "LINEAGE_HOME": str(tmp_path / "server-home")}, host="0.0.0.0")
    yield s
    s.stop()


@pytest.mark.slow
def test_a_scrape_counts_exactly_what_went_through_the_server(
        server: Server, backend: str, make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("LINEAGE_STORE_URL", f"http://127.0.0.1:{server.port}")  # this process: the server's store
    monkeypatch.setenv("LINEAGE_STORE_TOKEN", CACHER)
    m = make_module("import time\nfrom lineage_core import cached\n@cached(name='fit')\ndef fit(x):\n"
                    "    time.sleep(0.05)\n    return x * 2\n")
    hits = []
    for call in (lambda: m.fit(1), lambda: m.fit(1), lambda: m.fit(1), lambda: m.fit(2), lambda: m.fit.refresh(1),
                 lambda: m.fit(1)):
        call()
        if explain(m.fit).hit:
            hits.append(explain(m.fit).run_id)
    monkeypatch.setenv("LINEAGE_CACHE", "off")
    m.fit(1)
    assert len(hits) == 3
    store = Store.from_url(backend)
    sources = [store.get_run(store.get_run(h)["source_run_id"]) for h in hits]
    saved = sum(r["ended_at"] - r["started_at"] for r in sources)
    assert saved >= 3 * 0.05

    ingest = {"Authorization": f"Bearer {INGESTER}"}
    first, second, third = (str(uuid.uuid4()) for _ in range(3))
    assert server.request("POST", "/api/v1/lineage", event(first), ingest)[0] == 201  # stored
    assert server.request("POST", "/api/v1/lineage", event(first), ingest)[0] == 201  # duplicate
    batch = b"[" + b",".join([event(second), event(third), event(first)]) + b"]"
    assert server.request("POST", "/api/v1/lineage/batch", batch, ingest)[1] == {
        "status": "success", "stored": 2, "duplicates": 1}
    assert server.request("POST", "/api/v1/lineage", event(first, job=None), ingest)[0] == 422  # 1 rejected
    bad = b"[" + b",".join([event(str(uuid.uuid4())), event(str(uuid.uuid4()), eventTime="yesterday")]) + b"]"
    assert server.request("POST", "/api/v1/lineage/batch", bad, ingest)[0] == 422  # 2 rejected
    assert server.request("POST", "/api/v1/lineage/batch", b"{}", ingest)[0] == 400  # 1 rejected
    reads = {"Authorization": f"Bearer {READER}"}
    for run_id in hits:  # three paths, one route template
        assert server.request("GET", f"/api/v1/runs/{run_id}", None, reads)[0] == 200
    assert server.request("GET", "/no/such/route", None, reads)[0] == 404
    assert server.request("GET", "/api/v1/runs/0000000000", None, reads)[0] == 404  # an unknown run: no store error

    got = scrape(server)
    assert value(got, "lineage_cache_hits_total") == 3
    misses = {kind.value: value(got, "lineage_cache_misses_total", reason=kind.value)
              for kind in ReasonKind if kind is not ReasonKind.HIT}
    assert misses == {**dict.fromkeys(misses, 0.0), "first_run": 1, "changed": 1, "refresh": 1, "cache_off": 1}
    assert value(got, "lineage_compute_seconds_saved_total") == pytest.approx(saved, rel=1e-9)
    assert {o: value(got, "lineage_ingest_events_total", outcome=o) for o in ("stored", "duplicate", "rejected")} == {
        "stored": 3, "duplicate": 2, "rejected": 4}
    latency = "lineage_http_request_duration_seconds_count"
    assert value(got, latency, route="/api/v1/store/runs", method="POST", status="2xx") == 4  # the 4 misses
    # a hit is one request (lookup and run together); each of the 2 misses that looked up asked twice (its lookup,
    # and single-flight's look once it held the lease)
    assert value(got, latency, route="/api/v1/store/hits/{key}", method="POST", status="2xx") == 3 + 2 * 2
    assert value(got, latency, route="/api/v1/runs/{run_id}", method="GET", status="2xx") == 3
    assert value(got, latency, route="/api/v1/runs/{run_id}", method="GET", status="4xx") == 1
    assert value(got, latency, route="/api/v1/lineage", method="POST", status="2xx") == 2
    assert value(got, latency, route="/api/v1/lineage", method="POST", status="4xx") == 1
    assert value(got, latency, route="/api/v1/lineage/batch", method="POST", status="4xx") == 2
    assert value(got, latency, route="unmatched", method="GET", status="4xx") == 1
    routes = {dict(labels)["route"] for (name, labels) in got if name == latency}
    assert not any(h in r for h in hits for r in routes), routes  # templates, never raw paths
    assert value(got, "lineage_store_errors_total", route="/api/v1/runs") == 0
    assert value(got, "lineage_http_request_duration_seconds_bucket", route="/api/v1/runs/{run_id}", method="GET",
                 status="2xx", le="+Inf") == 3

    if backend.startswith("postgresql"):  # the database goes away: every read that needs it is a store error
        import psycopg

        name, port = backend.rsplit("/", 1)[1], request.getfixturevalue("pg_server").port
        with psycopg.connect(f"host=127.0.0.1 port={port} user=lineage dbname=postgres",
                             autocommit=True) as c:
            c.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            try:
                assert server.request("GET", "/api/v1/runs", None, reads)[0] in (500, 503)
                assert server.request("GET", "/api/v1/runs", None, reads)[0] in (500, 503)
                assert server.request("GET", "/readyz")[0] == 503
                down = scrape(server)  # the scrape itself needs no database
            finally:
                c.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert value(down, "lineage_store_errors_total", route="/api/v1/runs") == 2
        assert value(down, "lineage_store_errors_total", route="/readyz") == 1
        assert value(down, "lineage_cache_hits_total") == 3
    store.close()


def test_a_request_is_counted_by_the_time_its_answer_has_been_read(server: Server) -> None:
    """Counted before the last byte goes out: a scrape right after an answer always holds it (a count taken after
    the app returned sometimes missed the request just answered, as a blob download counted twice in CI showed)."""
    latency, cache = "lineage_http_request_duration_seconds_count", {"Authorization": f"Bearer {CACHER}"}
    data = b"counted " * 40_000  # streamed in chunks: the answer's end is what the count must not trail
    digest = hash_bytes(data)
    assert server.request("PUT", f"/api/v1/store/blobs/{digest}", data, cache)[0] in (200, 201, 204)
    for n in range(1, 41):
        assert server.request("GET", f"/api/v1/store/blobs/{digest}", None, cache)[0] == 200
        assert value(scrape(server), latency, route="/api/v1/store/blobs/{digest}", method="GET", status="2xx") == n


@pytest.mark.slow
def test_who_may_scrape(server: Server, backend: str, tmp_path: Path) -> None:
    assert scrape(server)  # a read token
    for token, status in ((None, 401), ("wrong", 401), (CACHER, 403), (LIMITED, 403)):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        assert server.request("GET", "/metrics", None, headers)[0] == status, token
    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "tokens").write_text(TOKEN_FILE)
    anonymous = Server({"LINEAGE_STORE_URL": backend, "LINEAGE_SERVER_TOKEN_FILE": str(tmp_path / "open" / "tokens"),
                        "LINEAGE_SERVER_ANONYMOUS_READ": "lineage"}, host="0.0.0.0")
    try:
        samples = scrape(anonymous, token=None)  # a Prometheus without a token, where lineage reads are open
        assert value(samples, "lineage_cache_hits_total") == 0
    finally:
        anonymous.stop()
