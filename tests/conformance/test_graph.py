"""Lineage graphs at several depths (node sets, edges, the data on each node) and column lineage."""

from __future__ import annotations

from typing import Any

from .compare import Report, compare_ids
from .session import Pair
from .world import both, compare_get, norms

SPARK_ETL = "job:spark-prod:orders_etl.execute_insert_into_hadoop_fs_relation_command.orders_clean"
STARTS = ["job:graph:step0", "job:graph:step4", "dataset:s3://graph:d8", "dataset:s3://graph:d3", "job:reports:build",
          "dataset:s3://reports:detail", "dataset:s3://reports:summary", SPARK_ETL, "dataset:s3://warehouse:orders_daily",
          "job:scheduler:nightly.load", "job:scheduler:nightly", "job:airflow-test:train_sklearn.train",
          "job:states:many_runs", "job:static:designed", "dataset:s3://static:described"]
DEPTHS = [0, 1, 2, 3, 5, 20]


def _shape(body: Any) -> tuple[list[str], list[list[str]]]:
    nodes = [n["id"] for n in body.get("graph") or []]
    edges = sorted({(e["origin"], e["destination"]) for n in body.get("graph") or []
                    for e in n.get("inEdges", []) + n.get("outEdges", [])})
    return sorted(nodes), [list(e) for e in edges]


def _compare_graph(r: Report, pair: Pair, label: str, path: str, **query: Any) -> None:
    (so, o), (sm, m) = both(pair, path, **query)
    r.compare(so, sm, f"{label}.status", (lambda v: v, lambda v: v))
    if so != 200 or sm != 200:
        return
    (on, oe), (mn, me) = _shape(o), _shape(m)
    r.found += compare_ids(on, mn, f"{label}.nodes") + compare_ids(oe, me, f"{label}.edges")
    theirs = {n["id"]: n for n in m["graph"]}
    for node in o["graph"]:
        if node["id"] in theirs:
            r.compare(node, theirs[node["id"]], f"{label}.graph[{node['id']}]", norms(pair))


def test_lineage_at_every_depth(pair: Pair) -> None:
    r = Report()
    for node in STARTS:
        for depth in DEPTHS:
            _compare_graph(r, pair, f"lineage[{node}@{depth}]", "/lineage", nodeId=node, depth=depth)
    r.check(pair)


def test_lineage_of_unknown_and_bad_nodes(pair: Pair) -> None:
    r = Report()
    for node in ["job:graph:no_such_job", "dataset:s3://graph:no_such", "graph:step0", "job:graph", "run:nope"]:
        compare_get(r, pair, f"lineage[{node}]", "/lineage", nodeId=node, depth=2)
    r.check(pair)


def test_column_lineage(pair: Pair) -> None:
    r = Report()
    for node in ["dataset:s3://warehouse:orders_clean", "dataset:s3://warehouse:orders_daily",
                 "dataset:postgres://shop-db.internal:5432:shop.public.orders",
                 "datasetField:s3://warehouse:orders_daily:total", "datasetField:s3://warehouse:orders_clean:country"]:
        for depth in (0, 1, 2, 20):
            for down in ("false", "true"):
                _compare_graph(r, pair, f"column-lineage[{node}@{depth},down={down}]", "/column-lineage",
                               nodeId=node, depth=depth, withDownstream=down)
    r.check(pair)
