"""`lineage serve` (SQLite and PostgreSQL) against a real Marquez 0.51.1 in the same run, on the same machine and
the same PostgreSQL cluster (a throwaway one, as the tests start it):

1. Single-event ingest: the same OpenLineage RunEvents POSTed one per request to `/api/v1/lineage` by 4 client
   threads on keep-alive connections (what every client's HTTP transport does), events/s.
2. Batch ingest: `POST /api/v1/lineage/batch`, 100 events per request, for us; Marquez has no batch endpoint
   (checked: its answer is recorded).
3. Lineage query: a graph of 4,000 jobs + datasets (40 pipelines of 50 jobs; each job reads the dataset before it
   and one from three steps back and writes the next), sent one event per request to every server, then
   `GET /api/v1/lineage?nodeId=…&depth=10` for the same random nodes, sequentially: p50 / p99 and the median
   number of nodes in an answer (Marquez counts depth in job hops).

Needs the Marquez build (`bash scripts/ensure-marquez.sh`). BENCH_MARQUEZ_EVENTS (default 400) and
BENCH_MARQUEZ_QUERIES (default 60) size the two Marquez-bound parts: Marquez ingests a few events per second.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from bench_lineage_server import analyze, event, post_all  # noqa: E402
from common import emit  # noqa: E402

from tests.services.lineage_server import Server  # noqa: E402
from tests.services.marquez import VERSION, MarquezServer  # noqa: E402
from tests.services.postgres import PostgresServer  # noqa: E402

THREADS = 4
INGEST_EVENTS = int(os.environ.get("BENCH_MARQUEZ_EVENTS", "400"))
QUERIES = int(os.environ.get("BENCH_MARQUEZ_QUERIES", "60"))
PIPELINES, STEPS = 40, 50


def ingest_events(n: int) -> list[bytes]:
    """``n`` events: START + COMPLETE of n/2 runs of 60 jobs over 100 datasets (as bench_lineage_server.py)."""
    out = []
    for r in range(n // 2):
        job, ins, o = f"ingest.job{r % 60}", [f"raw/{r % 100}.csv"], f"clean/{r % 100}.parquet"
        out += [event("START", r, job, ins, o, 0), event("COMPLETE", r, job, ins, o, 1)]
    return [json.dumps(e).encode() for e in out]


def graph_events() -> list[dict[str, Any]]:
    out, run = [], 20_000_000
    for p in range(PIPELINES):
        for s in range(STEPS):
            run += 1
            inputs = [f"p{p}/d{s}"] + ([f"p{p}/d{s - 3}"] if s >= 3 else [])
            out.append(event("COMPLETE", run, f"p{p}.step{s}", inputs, f"p{p}/d{s + 1}", s))
    return out


def batch_events() -> list[bytes]:
    """Fresh runs of other jobs, 100 per request (the batch endpoint's measurement; none of the graph's nodes)."""
    events = []
    for r in range(5000):
        job, ins, o = f"batch.job{r % 500}", [f"batch/raw/{r % 700}"], f"batch/out/{r % 700}"
        events.append(event("COMPLETE", 30_000_000 + r, job, ins, o, 2))
    return [json.dumps(events[i : i + 100]).encode() for i in range(0, len(events), 100)]


def query_nodes() -> list[str]:
    rng = random.Random(11)
    out = []
    for i in range(max(QUERIES, 300) + 10):
        p, s = rng.randrange(PIPELINES), rng.randrange(STEPS)
        out.append(f"job:bench:p{p}.step{s}" if i % 2 else f"dataset:s3://lake:p{p}/d{s}")
    return out


def latencies(port: int, nodes: list[str]) -> tuple[list[float], list[int]]:
    """Sequential depth-10 queries, the first 10 a warm-up: (sorted ms, answer sizes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    samples, sizes = [], []
    for i, node in enumerate(nodes):
        t = time.perf_counter()
        conn.request("GET", f"/api/v1/lineage?nodeId={node}&depth=10")
        resp = conn.getresponse()
        body = resp.read()
        elapsed = (time.perf_counter() - t) * 1000
        if resp.status != 200:
            raise RuntimeError(f"lineage query {node} failed: {resp.status} {body[:200]!r}")
        if i >= 10:
            samples.append(elapsed)
            sizes.append(len(json.loads(body)["graph"]))
    conn.close()
    return sorted(samples), sizes


def p99(samples: list[float]) -> float:
    return samples[max(int(len(samples) * 0.99) - 1, 0)]


def batch_status(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/api/v1/lineage/batch", b"[]", {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def measure(port: int, nodes: list[str], ours: bool, store_url: str | None = None) -> dict[str, Any]:
    single = ingest_events(INGEST_EVENTS)
    result: dict[str, Any] = {"ingest_single_events_s": len(single) / post_all(port, "/api/v1/lineage", single,
                                                                                 THREADS)}
    graph = [json.dumps(e).encode() for e in graph_events()]
    t = time.perf_counter()
    post_all(port, "/api/v1/lineage", graph, THREADS)
    result["graph_load_s"] = time.perf_counter() - t
    if ours:
        batches = batch_events()
        result["ingest_batch_events_s"] = 5000 / post_all(port, "/api/v1/lineage/batch", batches, THREADS)
        if store_url and store_url.startswith("postgresql"):
            analyze(store_url)  # what autovacuum does after a load (as bench_lineage_server.py)
    else:
        result["batch_status"] = batch_status(port)
    lat, sizes = latencies(port, nodes if ours else nodes[: QUERIES + 10])
    result.update(query_p50_ms=statistics.median(lat), query_p99_ms=p99(lat), queries=len(lat),
                  query_nodes_median=statistics.median(sizes), graph_nodes=PIPELINES * STEPS * 2)
    return result


def ours(store_url: str, home: Path, nodes: list[str]) -> dict[str, Any]:
    server = Server({"LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": store_url})
    try:
        return measure(server.port, nodes, True, store_url)
    finally:
        server.stop()


def main() -> None:
    nodes = query_nodes()
    results: dict[str, Any] = {"bench": "marquez_compare", "marquez_version": VERSION, "threads": THREADS}
    pg = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = ours(f"sqlite:///{tmp}/bench.db", Path(tmp) / "sqlite-home", nodes)
            results["postgresql"] = ours(pg.create_database(), Path(tmp) / "pg-home", nodes)
        marquez = MarquezServer(pg).start()
        try:
            results["marquez"] = measure(marquez.port, nodes, False)
        finally:
            marquez.stop()
    finally:
        pg.stop()
    m = results["marquez"]
    for backend in ("sqlite", "postgresql"):
        r = results[backend]
        results[f"ratio_{backend}"] = {"ingest_single": r["ingest_single_events_s"] / m["ingest_single_events_s"],
                                       "query_p50": m["query_p50_ms"] / r["query_p50_ms"],
                                       "query_p99": m["query_p99_ms"] / r["query_p99_ms"]}
    for key in ("sqlite", "postgresql", "marquez"):
        r = results[key]
        print(f"{key:>10}: single {r['ingest_single_events_s']:8.1f} ev/s"
              + (f", batch {r['ingest_batch_events_s']:8.1f} ev/s" if "ingest_batch_events_s" in r else
                 f", batch endpoint HTTP {r['batch_status']}")
              + f", depth-10 p50/p99 {r['query_p50_ms']:.1f}/{r['query_p99_ms']:.1f} ms"
              f" ({r['query_nodes_median']:.0f} nodes, {r['queries']} queries)", file=sys.stderr)
    emit(results)


if __name__ == "__main__":
    main()
