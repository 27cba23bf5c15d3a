"""The lineage graph over ingested events: nodeId parsing as Marquez does it, bounded traversal in
both directions, Marquez's node/edge shape, through the library, the server and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from lineage_core.cache import default_store
from lineage_core.errors import ConfigError
from lineage_core.openlineage.graph import NodeId, lineage, parse_node_id
from lineage_core.openlineage.ingest import ingest

from .services.lineage_server import Server

pytestmark = pytest.mark.usefixtures("backend")
RUN = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def step(job: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]], n: int) -> dict[str, Any]:
    return {"eventType": "COMPLETE", "eventTime": f"2026-11-22T10:0{n}:00Z", "producer": "https://x", "schemaURL": RUN,
            "run": {"runId": f"0190b1a0-0000-7000-8000-00000000000{n}"}, "job": {"namespace": "ml", "name": job},
            "inputs": [{"namespace": a, "name": b} for a, b in inputs],
            "outputs": [{"namespace": a, "name": b} for a, b in outputs]}


RAW = ("postgres://db:5432", "shop.public.orders")
FEATURES = ("s3://lake", "features/v1.parquet")
MODEL = ("s3://lake", "models/clf.pkl")
REPORT = ("file", "/reports/eval.json")


@pytest.fixture
def chain(backend: str) -> None:
    ingest(default_store(), [step("prepare", [RAW], [FEATURES], 1), step("train", [FEATURES], [MODEL], 2),
                             step("evaluate", [MODEL, FEATURES], [REPORT], 3)])


def test_node_ids_keep_urls_and_ports_whole() -> None:
    assert parse_node_id("dataset:s3://lake:features/v1.parquet") == NodeId("dataset", *FEATURES)
    assert parse_node_id("dataset:postgres://db:5432:shop.public.orders") == NodeId(
        "dataset", "postgres://db:5432", "shop.public.orders")
    assert parse_node_id("job:ml:train") == NodeId("job", "ml", "train")
    assert parse_node_id("job:ml:train#0190b1a0-0000-7000-8000-000000000002") == NodeId("job", "ml", "train")
    for bad in ("model:ml:x", "job:ml", "job:a:b:c"):
        with pytest.raises(ConfigError):
            parse_node_id(bad)


@pytest.mark.usefixtures("chain")
def test_bounded_traversal_both_ways() -> None:
    store = default_store()
    ids = lambda g: [n["id"] for n in g["graph"]]  # noqa: E731
    full = lineage(store, NodeId("job", "ml", "train"), depth=10)
    assert ids(full) == sorted(["job:ml:prepare", "job:ml:train", "job:ml:evaluate", "dataset:postgres://db:5432:"
                                "shop.public.orders", "dataset:s3://lake:features/v1.parquet",
                                "dataset:s3://lake:models/clf.pkl", "dataset:file:/reports/eval.json"])
    train = next(n for n in full["graph"] if n["id"] == "job:ml:train")
    assert train["type"] == "JOB" and train["inEdges"] == [
        {"origin": "dataset:s3://lake:features/v1.parquet", "destination": "job:ml:train"}]
    assert train["outEdges"] == [{"origin": "job:ml:train", "destination": "dataset:s3://lake:models/clf.pkl"}]
    assert ids(lineage(store, NodeId("job", "ml", "train"), depth=1)) == [
        "dataset:s3://lake:features/v1.parquet", "dataset:s3://lake:models/clf.pkl", "job:ml:train"]
    up = lineage(store, NodeId("dataset", *MODEL), depth=10, direction="upstream")
    assert ids(up) == ["dataset:postgres://db:5432:shop.public.orders", "dataset:s3://lake:features/v1.parquet",
                       "dataset:s3://lake:models/clf.pkl", "job:ml:prepare", "job:ml:train"]
    down = lineage(store, NodeId("dataset", *RAW), depth=10, direction="downstream")
    assert "dataset:file:/reports/eval.json" in ids(down) and "job:ml:evaluate" in ids(down)


@pytest.mark.slow
@pytest.mark.usefixtures("chain")
def test_server_and_cli_answer_the_same_graph() -> None:
    s = Server({})
    try:
        status, body = s.request("GET", "/api/v1/lineage?nodeId=dataset:s3://lake:models/clf.pkl&depth=10")
        assert status == 200
        assert body == lineage(default_store(), NodeId("dataset", *MODEL), depth=10)
        assert s.request("GET", "/api/v1/lineage?nodeId=nonsense")[0] == 400
    finally:
        s.stop()
    cli = [sys.executable, "-m", "lineage_core.cli", "lineage"]
    out = subprocess.run([*cli, "job:ml:evaluate", "--upstream", "--json"], capture_output=True, text=True,
                         env=os.environ.copy(), check=True).stdout
    assert "dataset:postgres://db:5432:shop.public.orders" in [n["id"] for n in json.loads(out)["graph"]]
    tree = subprocess.run([*cli, "job:ml:evaluate", "--upstream"], capture_output=True, text=True,
                          env=os.environ.copy(), check=True).stdout
    assert "job:ml:prepare" in tree
    bad = subprocess.run([*cli, "job:ml:nothing"], capture_output=True, text=True, env=os.environ.copy())
    assert bad.returncode != 0 and "no lineage recorded" in bad.stderr
