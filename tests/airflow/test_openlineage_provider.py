"""Airflow's own OpenLineage provider, pointed at `lineage serve` with its HTTP transport while a real
DAG runs: every event it sends is stored, and our lineage and Marquez read APIs show the DAG's graph."""

from __future__ import annotations

from typing import Any

from ..services.lineage_server import Server
from ..services.olspec import check_event, spec_registry
from .conftest import NAMESPACE, file_events, wait_for

RAW, MODEL = "dataset:file:/data/lake/raw/orders.csv", "dataset:file:/data/lake/models/clf.pkl"
EXTRACT, TRAIN = f"job:{NAMESPACE}:ol_probe.extract", f"job:{NAMESPACE}:ol_probe.train"


def probe_events(server: Server) -> list[dict[str, Any]]:
    status, body = server.request("GET", "/api/v1/events/lineage?limit=500&sortDirection=asc")
    assert status == 200
    return [e for e in body["events"] if e["job"]["name"].startswith("ol_probe")]


def test_provider_events_land_in_our_store_and_lineage(run_dag: Any, lineage_server: Server) -> None:
    run_dag("ol_probe")
    # 2 tasks x (START, COMPLETE) + the DAG's COMPLETE, which arrives after dag.test() returns
    stored = wait_for(lambda: (e := probe_events(lineage_server)) and len(e) >= 5 and e, what="5 events")
    sent = [e for e in file_events() if e["job"]["name"].startswith("ol_probe")]
    assert sorted(e["eventType"] for e in stored) == sorted(e["eventType"] for e in sent)
    assert {(e["job"]["name"], e["eventType"]) for e in stored} >= {
        ("ol_probe.extract", "START"), ("ol_probe.extract", "COMPLETE"),
        ("ol_probe.train", "START"), ("ol_probe.train", "COMPLETE"), ("ol_probe", "COMPLETE")}
    registry = spec_registry()
    for event in stored:  # what the provider sends is valid OpenLineage, and we kept it verbatim
        check_event(registry, event, known_facets_only=True)

    status, body = lineage_server.request("GET", f"/api/v1/lineage?nodeId={MODEL}&depth=10")
    assert status == 200
    graph = {n["id"]: n for n in body["graph"]}
    assert set(graph) == {RAW, MODEL, EXTRACT, TRAIN}
    assert {(e["origin"], e["destination"]) for e in graph[TRAIN]["inEdges"]} == {(RAW, TRAIN)}
    assert {(e["origin"], e["destination"]) for e in graph[TRAIN]["outEdges"]} == {(TRAIN, MODEL)}
    assert {(e["origin"], e["destination"]) for e in graph[EXTRACT]["outEdges"]} == {(EXTRACT, RAW)}

    status, job = lineage_server.request("GET", f"/api/v1/namespaces/{NAMESPACE}/jobs/ol_probe.train")
    assert status == 200 and job["parentJobName"] == "ol_probe" and job["simpleName"] == "train"
    assert job["latestRun"]["state"] == "COMPLETED" and job["facets"]["jobType"]["integration"] == "AIRFLOW"
    status, dag_job = lineage_server.request("GET", f"/api/v1/namespaces/{NAMESPACE}/jobs/ol_probe")
    assert status == 200 and dag_job["latestRun"]["state"] == "COMPLETED"
