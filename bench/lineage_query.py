"""Depth-10 lineage queries on a 100,000-node graph, on SQLite and on PostgreSQL (a throwaway cluster, as the
tests start one): p50 / p99 of the query itself (``lineage_core.openlineage.graph.lineage``) and over HTTP
(``GET /api/v1/lineage?nodeId=…&depth=10`` on a real ``lineage serve``, on a keep-alive connection as the Marquez
web UI asks, the answer parsed), the nodes each answer holds and the statements each query runs. The machine's
load average is printed with them: on a shared machine, the percentiles move with it.

The graph: 1,000 pipelines of 50 jobs, each job reading the previous dataset and one from three steps back and
writing the next (50,000 jobs, 51,000 datasets), ingested as COMPLETE events. With Marquez's semantics — depth
counts job hops, and jobs sharing a dataset are one hop apart — a depth-10 query from any node of a pipeline
reaches most of it (about a hundred nodes), as the UI's default view of such a graph does.

    python bench/lineage_query.py [--queries 300] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from lineage_core.openlineage.graph import NodeId, lineage  # noqa: E402
from lineage_core.openlineage.ingest import ingest  # noqa: E402
from lineage_core.store import Store  # noqa: E402
from tests.services.lineage_server import Server  # noqa: E402
from tests.services.postgres import PostgresServer  # noqa: E402

RUN = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
PIPELINES, STEPS, DEPTH = 1000, 50, 10


def events() -> list[dict[str, Any]]:
    out, run = [], 0
    for p in range(PIPELINES):
        for s in range(STEPS):
            run += 1
            inputs = [f"p{p}/d{s}"] + ([f"p{p}/d{s - 3}"] if s >= 3 else [])
            out.append({"eventType": "COMPLETE", "eventTime": "2026-11-22T10:00:00Z", "producer": "https://bench",
                        "schemaURL": RUN, "run": {"runId": f"0190b1a0-0000-7000-8000-{run:012d}"},
                        "job": {"namespace": "bench", "name": f"p{p}.step{s}"},
                        "inputs": [{"namespace": "s3://lake", "name": n} for n in inputs],
                        "outputs": [{"namespace": "s3://lake", "name": f"p{p}/d{s + 1}"}]})
    return out


def starts(n: int, seed: int = 7) -> list[NodeId]:
    rng = random.Random(seed)
    nodes = []
    for _ in range(n):
        p, s = rng.randrange(PIPELINES), rng.randrange(STEPS)
        nodes.append(NodeId("job", "bench", f"p{p}.step{s}") if rng.random() < 0.5
                     else NodeId("dataset", "s3://lake", f"p{p}/d{s + 1}"))
    return nodes


def percentiles(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 1), "p99_ms": round(q[98], 1), "mean_ms": round(statistics.fmean(ms), 1)}


def timed(fn: Callable[[NodeId], int], nodes: list[NodeId]) -> tuple[list[float], list[int]]:
    for node in nodes[:20]:  # warm the caches and the connection pool
        fn(node)
    ms, sizes = [], []
    for node in nodes:
        t0 = time.perf_counter()
        sizes.append(fn(node))
        ms.append((time.perf_counter() - t0) * 1000)
    return ms, sizes


def measure(url: str, home: Path, queries: int) -> dict[str, Any]:
    store = Store.from_url(url, (home / "artifacts").as_uri())
    docs = events()
    t0 = time.perf_counter()
    for i in range(0, len(docs), 2000):
        ingest(store, docs[i : i + 2000])
    built = time.perf_counter() - t0
    if store.engine.dialect.name == "postgresql":
        # Planner statistics, as a steady-state server has them (autovacuum's ANALYZE runs on its own schedule
        # after a bulk load; until it has, the planner guesses at the new tables' sizes and the traversal's
        # joins go wrong: p50/p99 140/309 ms right after this ingest with autovacuum held off, 12/30 ms after
        # an ANALYZE of under 1 s, same graph and queries). Measured with it, so a run does not depend on
        # whether autovacuum got there first.
        with store.engine.begin() as c:
            c.exec_driver_sql("ANALYZE")
    nodes = starts(queries)
    count = [0]
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: count.__setitem__(0, count[0] + 1))
    ms, sizes = timed(lambda n: len(lineage(store, n, depth=DEPTH)["graph"]), nodes)
    per_query = count[0] / (len(nodes) + 20)
    server = Server({"LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": url})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)  # keep-alive, as a browser's
    try:
        def over_http(node: NodeId) -> int:
            conn.request("GET", f"/api/v1/lineage?nodeId={urllib.parse.quote(str(node))}&depth={DEPTH}")
            response = conn.getresponse()
            body = json.loads(response.read())
            assert response.status == 200, body
            return len(body["graph"])

        http_ms, _ = timed(over_http, nodes)
    finally:
        conn.close()
        server.stop()
        store.close()
    return {"graph_nodes": PIPELINES * STEPS * 2 + PIPELINES, "ingest_s": round(built, 1),
            "query": percentiles(ms), "http": percentiles(http_ms), "nodes_per_answer_p50": statistics.median(sizes),
            "statements_per_query": round(per_query, 1), "queries": len(nodes), "cpus": os.cpu_count(),
            "load_average": [round(x, 1) for x in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="lineage-bench-") as tmp:
            home = Path(tmp)
            if backend == "sqlite":
                results[backend] = measure(f"sqlite:///{home / 'lineage.db'}", home, args.queries)
            else:
                pg = PostgresServer().start()
                try:
                    results[backend] = measure(pg.create_database(), home, args.queries)
                finally:
                    pg.stop()
        print(json.dumps({backend: results[backend]}), flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
