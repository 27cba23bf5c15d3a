"""`lineage serve` under load, on SQLite and on PostgreSQL (a throwaway cluster, as the tests start):

1. Ingest rate: OpenLineage RunEvents POSTed one per request (Marquez's contract, what every client's
   HTTP transport does) by 4 client threads on keep-alive connections, and the same events through
   `POST /api/v1/lineage/batch` (100 per request).
2. Lineage query: a synthetic graph of 100,000 jobs + datasets (1,000 pipelines of 50 jobs, each job
   reading the previous dataset and one from three steps back, writing the next), ingested through the
   batch endpoint; then `GET /api/v1/lineage?nodeId=…&depth=10` (both directions, as the Marquez UI
   asks) for random nodes, sequentially over HTTP: p50 / p99.

Marquez itself is not measured: its API server is not published to the package registry this machine
reaches (see docs/benchmarks.md).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from common import emit  # noqa: E402

from tests.services.lineage_server import Server  # noqa: E402
from tests.services.postgres import PostgresServer  # noqa: E402

RUN = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
INGEST_RUNS, THREADS = 1500, 4
PIPELINES, STEPS = 1000, 50
QUERIES = int(os.environ.get("BENCH_LINEAGE_QUERIES", "300"))


def event(kind: str, run: int, job: str, inputs: list[str], output: str, minute: int) -> dict[str, Any]:
    return {
        "eventType": kind, "eventTime": f"2026-11-22T{10 + minute // 60:02d}:{minute % 60:02d}:00Z",
        "producer": "https://github.com/lineage-core/bench", "schemaURL": RUN,
        "run": {"runId": f"0190b1a0-0000-7000-8000-{run:012d}"},
        "job": {"namespace": "bench", "name": job},
        "inputs": [{"namespace": "s3://lake", "name": n} for n in inputs],
        "outputs": [{"namespace": "s3://lake", "name": output,
                     "facets": {"version": {"_producer": "https://x", "_schemaURL": "https://x",
                                            "datasetVersion": f"v{run}"}}}] if kind == "COMPLETE" else [],
    }


def ingest_events() -> list[dict[str, Any]]:
    out = []
    for r in range(INGEST_RUNS):
        job, ins, o = f"ingest.job{r % 300}", [f"raw/{r % 500}.csv"], f"clean/{r % 500}.parquet"
        out += [event("START", r, job, ins, o, 0), event("COMPLETE", r, job, ins, o, 1)]
    return out


def graph_events() -> list[dict[str, Any]]:
    out = []
    run = 10_000_000
    for p in range(PIPELINES):
        for s in range(STEPS):
            run += 1
            inputs = [f"p{p}/d{s}"] + ([f"p{p}/d{s - 3}"] if s >= 3 else [])
            out.append(event("COMPLETE", run, f"p{p}.step{s}", inputs, f"p{p}/d{s + 1}", 0))
    return out


def post_all(port: int, path: str, bodies: list[bytes], threads: int) -> float:
    """Send every body (round-robin over threads, keep-alive); returns elapsed seconds."""
    errors: list[str] = []

    def worker(chunk: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for body in chunk:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status not in (200, 201):
                errors.append(f"{resp.status}")
        conn.close()

    workers = [threading.Thread(target=worker, args=(bodies[i::threads],)) for i in range(threads)]
    t = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[:3]}")
    return elapsed


def query_latencies(port: int) -> list[float]:
    rng = random.Random(7)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    samples, sizes = [], []
    for i in range(QUERIES + 10):
        p, s = rng.randrange(PIPELINES), rng.randrange(STEPS)
        node = f"job:bench:p{p}.step{s}" if i % 2 else f"dataset:s3://lake:p{p}/d{s}"
        t = time.perf_counter()
        conn.request("GET", f"/api/v1/lineage?nodeId={node}&depth=10")
        resp = conn.getresponse()
        body = resp.read()
        elapsed = time.perf_counter() - t
        if resp.status != 200:
            raise RuntimeError(f"lineage query failed: {resp.status} {body[:200]!r}")
        if i >= 10:  # warm-up
            samples.append(elapsed * 1000)
            sizes.append(len(json.loads(body)["graph"]))
    conn.close()
    query_latencies.sizes = sizes  # type: ignore[attr-defined]
    return samples


def analyze(store_url: str) -> None:
    """Refresh planner statistics (what PostgreSQL's autovacuum does on its own schedule after a load)."""
    import sqlalchemy as sa

    engine = sa.create_engine(store_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.exec_driver_sql("ANALYZE")
    engine.dispose()


def measure(store_url: str, home: Path) -> dict[str, Any]:
    server = Server({"LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": store_url})
    try:
        events = ingest_events()
        single = post_all(server.port, "/api/v1/lineage", [json.dumps(e).encode() for e in events], THREADS)
        batches = [json.dumps(events[i : i + 100]).encode() for i in range(0, len(events), 100)]
        dup = post_all(server.port, "/api/v1/lineage/batch", batches, THREADS)  # all duplicates now
        graph = graph_events()
        gb = [json.dumps(graph[i : i + 100]).encode() for i in range(0, len(graph), 100)]
        batch = post_all(server.port, "/api/v1/lineage/batch", gb, THREADS)
        cold = sorted(query_latencies(server.port))  # right after the load: no planner statistics yet
        analyze(store_url)
        lat = sorted(query_latencies(server.port))
        return {
            "ingest_single_events_s": len(events) / single, "ingest_batch_events_s": len(graph) / batch,
            "ingest_duplicates_events_s": len(events) / dup, "graph_nodes": PIPELINES * STEPS * 2,
            "query_p50_ms": statistics.median(lat), "query_p99_ms": lat[int(len(lat) * 0.99) - 1],
            "query_before_analyze_p50_ms": statistics.median(cold),
            "query_before_analyze_p99_ms": cold[int(len(cold) * 0.99) - 1],
            "query_nodes_median": statistics.median(query_latencies.sizes),  # type: ignore[attr-defined]
        }
    finally:
        server.stop()


def main() -> None:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = measure(f"sqlite:///{tmp}/bench.db", Path(tmp) / "sqlite-home")
        pg = PostgresServer().start()
        try:
            results["postgresql"] = measure(pg.create_database(), Path(tmp) / "pg-home")
        finally:
            pg.stop()
    emit(results)


if __name__ == "__main__":
    main()
