"""The lineage graph over ingested events with Marquez's semantics: nodeId parsing as Marquez does it, depth in
job hops (two jobs sharing a dataset are one hop apart), each job's edges those of its current version, a child
job's node showing its parent's run; a fixed number of statements per hop whatever the graph's width; the
directed traversal of ``lineage lineage``; through the library, the server and the CLI, on both backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from lineage_core.cache import default_store
from lineage_core.errors import ConfigError
from lineage_core.openlineage.graph import NodeId, lineage, parse_node_id
from lineage_core.openlineage.ingest import ingest
from lineage_core.store import Store
from lineage_core.store.ol_graph import HOPS

from .services.lineage_server import Server

pytestmark = pytest.mark.usefixtures("backend")
RUN = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_runs = iter(range(1, 1_000_000))


def step(job: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]], n: int = 0,
         event_type: str = "COMPLETE", run: str | None = None, **extra: Any) -> dict[str, Any]:
    run = run or f"0190b1a0-0000-7000-8000-{next(_runs):012d}"
    return {"eventType": event_type, "eventTime": f"2026-11-22T10:{n:02d}:00Z", "producer": "https://x",
            "schemaURL": RUN, "run": {"runId": run, **extra}, "job": {"namespace": "ml", "name": job},
            "inputs": [{"namespace": a, "name": b} for a, b in inputs],
            "outputs": [{"namespace": a, "name": b} for a, b in outputs]}


RAW = ("postgres://db:5432", "shop.public.orders")
FEATURES = ("s3://lake", "features/v1.parquet")
MODEL = ("s3://lake", "models/clf.pkl")
REPORT = ("file", "/reports/eval.json")


def ids(graph: dict[str, Any]) -> list[str]:
    return [n["id"] for n in graph["graph"]]


def d(i: int) -> tuple[str, str]:
    return ("s3://lake", f"d{i}")


@pytest.fixture
def chain(backend: str) -> None:
    ingest(default_store(), [step("prepare", [RAW], [FEATURES], 1), step("train", [FEATURES], [MODEL], 2),
                             step("evaluate", [MODEL, FEATURES], [REPORT], 3)])


@pytest.fixture
def line(backend: str) -> None:
    """j0 -> d1 -> j1 -> d2 -> ... -> j5 -> d6 (j_i reads d_i, writes d_{i+1})."""
    ingest(default_store(), [step(f"j{i}", [d(i)], [d(i + 1)], i) for i in range(6)])


def test_node_ids_follow_marquez_parsing() -> None:
    assert parse_node_id("dataset:s3://lake:features/v1.parquet") == NodeId("dataset", *FEATURES)
    assert parse_node_id("dataset:postgres://db:5432:shop.public.orders") == NodeId(
        "dataset", "postgres://db:5432", "shop.public.orders")
    assert parse_node_id("job:ml:train") == NodeId("job", "ml", "train")
    assert parse_node_id("job:ml:train#0190b1a0-0000-7000-8000-000000000002") == NodeId("job", "ml", "train")
    assert parse_node_id("job:a:b:c") == NodeId("job", "a", "b:c")  # Marquez: the last part keeps the rest
    for bad in ("model:ml:x", "job:ml", "job:ml:", "datasetField:a:b:c"):
        with pytest.raises(ConfigError):
            parse_node_id(bad)


@pytest.mark.usefixtures("line")
def test_depth_counts_job_hops_from_a_job_or_a_dataset() -> None:
    store = default_store()
    assert ids(lineage(store, NodeId("job", "ml", "j2"), depth=0)) == [
        "dataset:s3://lake:d2", "dataset:s3://lake:d3", "job:ml:j2"]
    one = ids(lineage(store, NodeId("job", "ml", "j2"), depth=1))
    assert [n for n in one if n.startswith("job:")] == ["job:ml:j1", "job:ml:j2", "job:ml:j3"]
    assert [n for n in one if n.startswith("dataset:")] == [f"dataset:s3://lake:d{i}" for i in range(1, 5)]
    assert len(ids(lineage(store, NodeId("job", "ml", "j2"), depth=2))) == 5 + 6  # j0..j4, d0..d5
    # a dataset's graph is its writer's: at depth 0 its reader is not in it
    assert ids(lineage(store, NodeId("dataset", *d(3)), depth=0)) == [
        "dataset:s3://lake:d2", "dataset:s3://lake:d3", "job:ml:j2"]
    assert "job:ml:j3" in ids(lineage(store, NodeId("dataset", *d(3)), depth=1))
    assert ids(lineage(store, NodeId("dataset", *d(0)), depth=0)) == [
        "dataset:s3://lake:d0", "dataset:s3://lake:d1", "job:ml:j0"]  # only read: its reader's graph


@pytest.mark.usefixtures("chain")
def test_nodes_and_edges_in_marquez_shape_and_jobs_sharing_an_input_are_one_hop_apart() -> None:
    store = default_store()
    full = lineage(store, NodeId("job", "ml", "train"), depth=10)
    assert ids(full) == sorted(["job:ml:prepare", "job:ml:train", "job:ml:evaluate", "dataset:postgres://db:5432:"
                                "shop.public.orders", "dataset:s3://lake:features/v1.parquet",
                                "dataset:s3://lake:models/clf.pkl", "dataset:file:/reports/eval.json"])
    train = next(n for n in full["graph"] if n["id"] == "job:ml:train")
    assert train["type"] == "JOB" and train["inEdges"] == [
        {"origin": "dataset:s3://lake:features/v1.parquet", "destination": "job:ml:train"}]
    assert train["outEdges"] == [{"origin": "job:ml:train", "destination": "dataset:s3://lake:models/clf.pkl"}]
    assert train["data"]["latestRun"]["state"] == "COMPLETED" and "latestRuns" not in train["data"]
    report = next(n for n in full["graph"] if n["id"] == "dataset:file:/reports/eval.json")
    assert report["data"]["type"] == "DB_TABLE" and "facets" not in report["data"]
    # prepare and evaluate share the features: from prepare, evaluate is one hop away (as Marquez draws it)
    assert "job:ml:evaluate" in ids(lineage(store, NodeId("job", "ml", "prepare"), depth=1))


def test_a_job_shows_only_its_current_versions_edges(backend: str) -> None:
    store = default_store()
    ingest(store, [step("export", [RAW], [d(1)], 1)])
    assert ids(lineage(store, NodeId("job", "ml", "export"), depth=5)) == [
        "dataset:postgres://db:5432:shop.public.orders", "dataset:s3://lake:d1", "job:ml:export"]
    ingest(store, [step("export", [RAW], [d(2)], 2)])  # it stopped writing d1
    assert ids(lineage(store, NodeId("job", "ml", "export"), depth=5)) == [
        "dataset:postgres://db:5432:shop.public.orders", "dataset:s3://lake:d2", "job:ml:export"]
    orphan = lineage(store, NodeId("dataset", *d(1)), depth=5)["graph"]
    assert [(n["id"], n["inEdges"], n["outEdges"]) for n in orphan] == [("dataset:s3://lake:d1", [], [])]
    assert orphan[0]["data"]["name"] == "d1"  # drawn alone, with its data
    # a run still going changes nothing; its first run's datasets are drawn until then (Marquez draws none)
    ingest(store, [step("export", [RAW], [d(3)], 3, event_type="START"), step("fresh", [d(2)], [d(4)], 4, "START")])
    assert "dataset:s3://lake:d3" not in ids(lineage(store, NodeId("job", "ml", "export"), depth=0))
    assert ids(lineage(store, NodeId("job", "ml", "fresh"), depth=0)) == [
        "dataset:s3://lake:d2", "dataset:s3://lake:d4", "job:ml:fresh"]


def test_a_child_jobs_node_shows_its_parents_run(backend: str) -> None:
    store = default_store()
    parent_run = "0190b1a0-0000-7000-8000-0000000fffff"
    facet = {"parent": {"_producer": "https://x", "_schemaURL": "https://x", "run": {"runId": parent_run},
                        "job": {"namespace": "ml", "name": "pipeline"}}}
    ingest(store, [step("pipeline.train", [FEATURES], [MODEL], 1, event_type="START", facets=facet)])
    node = next(n for n in lineage(store, NodeId("job", "ml", "pipeline.train"), depth=1)["graph"]
                if n["id"] == "job:ml:pipeline.train")
    assert node["data"]["currentRunUuid"] == parent_run and node["data"]["latestRun"]["id"] == parent_run
    assert node["data"]["simpleName"] == "train" and node["data"]["parentJobName"] == "pipeline"


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)


def test_a_query_costs_a_fixed_number_of_statements_per_hop_whatever_the_width(backend: str) -> None:
    """A line of 12 jobs, and beside it a tree that fans out to 30 jobs, then 480 (more keys than any one
    statement of a batched IN list would take): the statements a query runs grow by one per ``HOPS`` hops (one
    hop per statement on SQLite, ten on PostgreSQL), and are the same for the wide graph as for the narrow one."""
    store = default_store()
    ingest(store, [step(f"n{i}", [("n", f"{i}")], [("n", f"{i + 1}")], 0) for i in range(12)])
    wide = [step("w0", [("w", "root")], [("w", "0")])]
    for i in range(30):  # hop 1: 30 jobs read w/0; hop 2: 16 jobs read what each of those wrote
        wide.append(step(f"w1.{i}", [("w", "0")], [("w", f"1.{i}")]))
        wide += [step(f"w2.{i}.{j}", [("w", f"1.{i}")], [("w", f"2.{i}.{j}")]) for j in range(16)]
    ingest(store, wide)
    counts: dict[tuple[str, int], int] = {}
    for start, depth in [("n0", 0), ("n0", 1), ("n0", 2), ("n0", 5), ("n0", 11), ("w0", 0), ("w0", 1), ("w0", 2)]:
        with statements(store) as seen:
            graph = lineage(store, NodeId("job", "ml", start), depth=depth)
        counts[(start, depth)] = len(seen)
        assert graph["graph"]
    base, hops = counts[("n0", 0)], HOPS.get(store.engine.dialect.name, 1)  # hop 0 and the first chunk: one statement
    assert [counts[("n0", k)] - base for k in (1, 2, 5, 11)] == [max(0, -(-(k - hops) // hops)) for k in (1, 2, 5, 11)]
    assert len([i for i in ids(lineage(store, NodeId("job", "ml", "n0"), depth=11)) if i.startswith("job:")]) == 12
    assert [counts[("w0", k)] for k in (0, 1, 2)] == [counts[("n0", k)] for k in (0, 1, 2)]
    assert len(ids(lineage(store, NodeId("job", "ml", "w0"), depth=2))) == (1 + 30 + 480) + (2 + 30 + 480)


@pytest.mark.usefixtures("chain")
def test_directed_traversal_for_the_cli() -> None:
    store = default_store()
    up = lineage(store, NodeId("dataset", *MODEL), depth=10, direction="upstream")
    assert ids(up) == ["dataset:postgres://db:5432:shop.public.orders", "dataset:s3://lake:features/v1.parquet",
                       "dataset:s3://lake:models/clf.pkl", "job:ml:prepare", "job:ml:train"]
    assert ids(lineage(store, NodeId("dataset", *MODEL), depth=0, direction="upstream")) == [
        "dataset:s3://lake:features/v1.parquet", "dataset:s3://lake:models/clf.pkl", "job:ml:train"]
    down = lineage(store, NodeId("dataset", *RAW), depth=10, direction="downstream")
    assert "dataset:file:/reports/eval.json" in ids(down) and "job:ml:evaluate" in ids(down)
    assert "job:ml:train" not in ids(lineage(store, NodeId("job", "ml", "evaluate"), 10, "downstream"))


@pytest.mark.slow
@pytest.mark.usefixtures("chain")
def test_server_and_cli_answer_the_same_graph() -> None:
    s = Server({})
    try:
        status, body = s.request("GET", "/api/v1/lineage?nodeId=dataset:s3://lake:models/clf.pkl&depth=10")
        assert status == 200
        assert body == lineage(default_store(), NodeId("dataset", *MODEL), depth=10)
        assert s.request("GET", "/api/v1/lineage?nodeId=job:nonsense")[0] == 400  # a NodeId with too few parts
        status, body = s.request("GET", "/api/v1/lineage?nodeId=nonsense")  # not a NodeId at all: Marquez's 404
        assert status == 404 and body["code"] == 404 and "must start with" in body["message"]
        status, body = s.request("GET", "/api/v1/lineage?nodeId=job:ml:nothing")
        assert status == 404 and body["code"] == 404 and "job 'ml:nothing' not found" in body["message"]
    finally:
        s.stop()
    cli = [sys.executable, "-m", "lineage_core.cli", "lineage"]
    out = subprocess.run([*cli, "job:ml:evaluate", "--upstream", "--json"], capture_output=True, text=True,
                         env=os.environ.copy(), check=True).stdout
    assert "dataset:postgres://db:5432:shop.public.orders" in [n["id"] for n in json.loads(out)["graph"]]
    tree = subprocess.run([*cli, "job:ml:evaluate", "--upstream"], capture_output=True, text=True,
                          env=os.environ.copy(), check=True).stdout
    assert "ml:prepare" in tree
    bad = subprocess.run([*cli, "job:ml:nothing"], capture_output=True, text=True, env=os.environ.copy())
    assert bad.returncode != 0 and "no lineage recorded" in bad.stderr
