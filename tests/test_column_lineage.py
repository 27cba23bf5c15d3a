"""Column lineage as Marquez 0.51 keeps and serves it, on both backends: the ``columnLineage`` facet of a written
dataset links its schema's fields to fields of the versions its run read (anything else is dropped, as Marquez
drops it); ``Dataset.columnLineage``; the ``/column-lineage`` graph from a dataset or a ``datasetField:`` node,
``depth`` links deep, with or without what was made downstream, in Marquez's node and edge shape."""

from __future__ import annotations

from typing import Any

import pytest

from lineage_core.cache import default_store
from lineage_core.errors import ConfigError
from lineage_core.openlineage import views
from lineage_core.openlineage.column_lineage import graph
from lineage_core.openlineage.graph import parse_field_node_id
from lineage_core.openlineage.ingest import ingest

pytestmark = pytest.mark.usefixtures("backend")
RUN = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
NS = "s3://lake"


def _facet(**body: Any) -> dict[str, Any]:
    return {"_producer": "https://x", "_schemaURL": "https://x", **body}


def dataset(name: str, fields: list[str], lineage: dict[str, Any] | None = None) -> dict[str, Any]:
    facets = {"schema": _facet(fields=[{"name": f, "type": "int"} for f in fields])}
    if lineage is not None:
        facets["columnLineage"] = _facet(fields=lineage)
    return {"namespace": NS, "name": name, "facets": facets}


def link(*inputs: tuple[str, str], description: str | None = None, kind: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"inputFields": [{"namespace": NS, "name": n, "field": f} for n, f in inputs]}
    if description:
        spec.update(transformationDescription=description, transformationType=kind)
    return spec


def run(job: str, n: int, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eventType": "COMPLETE", "eventTime": f"2026-11-22T10:{n:02d}:00Z", "producer": "https://x",
            "schemaURL": RUN, "run": {"runId": f"0190b1a0-0000-7000-8000-{n:012d}"},
            "job": {"namespace": "ml", "name": job}, "inputs": inputs, "outputs": outputs}


def clean(n: int, description: str) -> dict[str, Any]:
    return run("clean", n, [dataset("raw", ["a", "b"])], [dataset("clean", ["x", "y"], {
        "x": link(("raw", "a"), ("raw", "c"), description=description, kind="AGGREGATION"),  # raw has no c
        "y": link(("raw", "b"), ("other", "q")),  # the run did not read other
        "w": link(("raw", "a")),  # clean's schema has no w
    })])


@pytest.fixture
def columns(backend: str) -> None:
    ingest(default_store(), [clean(1, "sum"),
                             run("report", 2, [dataset("clean", ["x", "y"])],
                                 [dataset("report", ["total"], {"total": link(("clean", "x"))})])])


def fid(name: str, field: str) -> str:
    return f"datasetField:{NS}:{name}:{field}"


def shape(g: dict[str, Any] | None) -> dict[str, tuple[list[str], list[str]]]:
    assert g is not None
    return {n["id"]: ([e["destination"] for e in n["inEdges"]], [e["destination"] for e in n["outEdges"]])
            for n in g["graph"]}


@pytest.mark.usefixtures("columns")
def test_the_facet_becomes_the_datasets_column_lineage_keeping_only_real_fields() -> None:
    ds = views.get_dataset(default_store(), NS, "clean")
    assert ds is not None and ds["columnLineage"] == [
        {"name": "x", "inputFields": [{"namespace": NS, "dataset": "raw", "field": "a",
                                       "transformationDescription": "sum", "transformationType": "AGGREGATION"}],
         "transformationDescription": "sum", "transformationType": "AGGREGATION"},
        {"name": "y", "inputFields": [{"namespace": NS, "dataset": "raw", "field": "b",
                                       "transformationDescription": None, "transformationType": None}],
         "transformationDescription": None, "transformationType": None},
    ]
    raw = views.get_dataset(default_store(), NS, "raw")
    assert raw is not None and raw["columnLineage"] is None  # nothing made it
    ingest(default_store(), [clean(3, "avg")])  # a later write links the same fields anew: the latest link wins
    again = views.get_dataset(default_store(), NS, "clean")
    assert again is not None and again["columnLineage"][0]["transformationDescription"] == "avg"


@pytest.mark.usefixtures("columns")
def test_the_graph_upstream_depth_and_marquez_edge_directions() -> None:
    store = default_store()
    up = graph(store, (NS, "report"), None, 20, False)
    assert shape(up) == {fid("report", "total"): ([fid("clean", "x")], []),
                         fid("clean", "x"): ([fid("raw", "a")], [fid("report", "total")]),
                         fid("raw", "a"): ([], [fid("clean", "x")])}
    assert up is not None
    by_id = {n["id"]: n for n in up["graph"]}
    total = by_id[fid("report", "total")]
    assert total["type"] == "DATASET_FIELD" and total["inEdges"] == [
        {"origin": fid("report", "total"), "destination": fid("clean", "x")}]  # sic: Marquez's direction
    assert total["data"]["fieldType"] == "int" and total["data"]["inputFields"][0]["dataset"] == "clean"
    assert by_id[fid("raw", "a")]["data"] == {
        "namespace": NS, "dataset": "raw", "datasetVersion": by_id[fid("clean", "x")]["data"]["inputFields"][0][
            "datasetVersion"], "field": "a", "fieldType": "", "transformationDescription": None,
        "transformationType": None, "inputFields": []}
    assert set(shape(graph(store, (NS, "report"), None, 1, False))) == {fid("report", "total"), fid("clean", "x")}


@pytest.mark.usefixtures("columns")
def test_downstream_fields_and_a_source() -> None:
    store = default_store()
    both = shape(graph(store, (NS, "clean"), None, 20, True))
    assert set(both) == {fid("clean", "x"), fid("clean", "y"), fid("raw", "a"), fid("raw", "b"),
                         fid("report", "total")}
    assert set(shape(graph(store, (NS, "clean"), None, 20, False))) == {
        fid("clean", "x"), fid("clean", "y"), fid("raw", "a"), fid("raw", "b")}
    assert shape(graph(store, (NS, "clean"), "y", 20, True)) == {fid("clean", "y"): ([fid("raw", "b")], []),
                                                                fid("raw", "b"): ([], [fid("clean", "y")])}
    # as Marquez: a source has no links into it to start from, so its graph is empty even downstream
    assert graph(store, (NS, "raw"), None, 20, True) == {"graph": []}
    assert graph(store, (NS, "nowhere"), None, 20, True) is None
    assert graph(store, (NS, "clean"), "nope", 20, True) is None


def test_column_node_ids_parse_as_marquez_splits_them() -> None:
    assert parse_field_node_id("datasetField:s3://lake:orders.parquet:amount") == (
        ("s3://lake", "orders.parquet"), "amount", False)
    assert parse_field_node_id("dataset:postgres://db:5432:shop.orders") == (
        ("postgres://db:5432", "shop.orders"), None, False)
    assert parse_field_node_id("datasetField:ns:ds:f#0190b1a0-0000-7000-8000-000000000001")[2] is True
    with pytest.raises(ConfigError):
        parse_field_node_id("job:ml:clean")
