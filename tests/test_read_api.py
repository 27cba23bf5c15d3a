"""The Marquez read API (paths, parameters and shapes its web UI uses) and our own cache/environment/
diff endpoints, served by a real `lineage serve` process on both backends. Our own cached runs join the
lineage tables on read, next to another producer's events."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import pytest

from lineage_core import explain
from lineage_core.cache import default_store
from lineage_core.openlineage.ingest import ingest
from lineage_core.openlineage.sync import sync_runs
from lineage_core.openlineage.versions import dataset_version

from .services.lineage_server import Server
from .test_openlineage_ingest import DAG_RUN_ID, RUN_ID, airflow_event

pytestmark = pytest.mark.usefixtures("backend")
SCHEMA = {"_producer": "https://x", "_schemaURL": "https://x",
          "fields": [{"name": "order_id", "type": "BIGINT"}, {"name": "amount", "type": "DOUBLE"}]}


def enc(text: str) -> str:
    """What the Marquez web UI does to every path segment (encodeURIComponent)."""
    return quote(text, safe="")


@pytest.fixture
def server(backend: str) -> Iterator[Server]:
    s = Server({})
    yield s
    s.stop()


def dag_event(event_type: str, when: str) -> dict[str, Any]:
    """The DAG run's own event (the parent of the task runs)."""
    event = airflow_event(event_type, when, run_id=DAG_RUN_ID)
    event.update(job={"namespace": "airflow", "name": "etl_dag", "facets": {"jobType": {
        "_producer": "https://x", "_schemaURL": "https://x", "processingType": "BATCH", "integration": "AIRFLOW",
        "jobType": "DAG"}}}, inputs=[], outputs=[])
    event["run"]["facets"] = {"nominalTime": {"_producer": "https://x", "_schemaURL": "https://x",
                                              "nominalStartTime": "2026-11-22T09:00:00+01:00"}}
    return event


@pytest.fixture
def airflow_run(backend: str) -> None:
    """One Airflow DAG run whose task ran twice (a failed try's FAIL on one run, then START and COMPLETE)."""
    done = airflow_event("COMPLETE", "2026-11-22T10:05:00Z")
    done["outputs"][0]["facets"]["schema"] = SCHEMA
    failed = airflow_event("FAIL", "2026-11-22T09:59:00Z", run_id="0190b1a0-0000-7000-8000-00000000a000")
    failed["outputs"] = []  # a failed try wrote nothing
    ingest(default_store(), [dag_event("START", "2026-11-22T09:58:00Z"), failed,
                             airflow_event("START", "2026-11-22T10:00:00Z"), done,
                             dag_event("COMPLETE", "2026-11-22T10:06:00Z")])


def written(fields: list[dict[str, Any]] | None) -> str:
    """The version a write of the task's output dataset gets (Marquez's way)."""
    return dataset_version("s3://lake", "default", "orders/2026-11-22.parquet", fields, "", RUN_ID)


def get(server: Server, path: str) -> Any:
    status, body = server.request("GET", path)
    assert status == 200, (path, body)
    return body


@pytest.mark.slow
@pytest.mark.usefixtures("airflow_run")
def test_jobs_runs_and_facets_in_marquez_shapes(server: Server) -> None:
    names = [n["name"] for n in get(server, "/api/v1/namespaces")["namespaces"]]
    assert {"airflow", "postgres://db:5432", "s3://lake"} <= set(names)
    assert get(server, f"/api/v1/namespaces/{enc('s3://lake')}")["name"] == "s3://lake"
    assert server.request("GET", "/api/v1/namespaces/nowhere")[0] == 404
    jobs = get(server, "/api/v1/namespaces/airflow/jobs?limit=25")
    by_name = {j["name"]: j for j in jobs["jobs"]}
    assert jobs["totalCount"] == 2 and set(by_name) == {"etl_dag", "etl_dag.load"}
    job = get(server, "/api/v1/namespaces/airflow/jobs/etl_dag.load")
    assert job["id"] == {"namespace": "airflow", "name": "etl_dag.load"} and job["type"] == "BATCH"
    assert job["simpleName"] == "load" and job["parentJobName"] == "etl_dag"  # the parent facet's job
    assert job["inputs"] == [{"namespace": "postgres://db:5432", "name": "shop.public.orders"}]
    assert job["outputs"] == [{"namespace": "s3://lake", "name": "orders/2026-11-22.parquet"}]
    assert job["latestRun"]["state"] == "COMPLETED" and job["latestRun"]["durationMs"] == 300_000
    runs = get(server, "/api/v1/namespaces/airflow/jobs/etl_dag.load/runs?limit=14")
    assert runs["totalCount"] == 2 and [r["state"] for r in runs["runs"]] == ["COMPLETED", "FAILED"]
    assert runs["runs"][0]["startedAt"] == "2026-11-22T10:00:00Z"
    # a version per write, with or without a version facet: START's (no schema yet) and COMPLETE's
    assert [v["datasetVersionId"]["version"] for v in runs["runs"][0]["outputDatasetVersions"]] == [
        written(None), written(SCHEMA["fields"])]
    assert runs["runs"][0]["inputDatasetVersions"][0]["datasetVersionId"]["name"] == "shop.public.orders"
    assert runs["runs"][0]["jobVersion"]["version"] == job["currentVersion"]
    assert runs["runs"][0]["args"] == {"run_id": DAG_RUN_ID, "name": "etl_dag", "namespace": "airflow"}
    dag = get(server, "/api/v1/namespaces/airflow/jobs/etl_dag")
    assert dag["labels"] == ["DAG", "AIRFLOW"] and dag["latestRun"]["args"] == {
        "nominal_start_time": "2026-11-22T08:00Z[UTC]"}  # Marquez's ZonedDateTime.toString(), in UTC
    assert dag["latestRun"]["nominalStartTime"] is None  # as Marquez: its ingest never sets it
    run_id = runs["runs"][0]["id"]
    facets = get(server, f"/api/v1/jobs/runs/{run_id}/facets?type=run")
    assert facets["runId"] == run_id and facets["facets"]["airflow"]["dag"] == {"dag_id": "etl_dag"}
    assert "parent" in facets["facets"]
    assert server.request("GET", f"/api/v1/jobs/runs/{run_id}/facets?type=dataset")[0] == 400
    assert get(server, f"/api/v1/jobs/runs/{run_id}")["state"] == "COMPLETED"
    failed = get(server, "/api/v1/jobs?lastRunStates=FAILED")
    assert failed["jobs"] == []  # the current runs completed (the task's current run is the DAG's)
    assert failed["totalCount"] == 2  # as Marquez's: every job, whatever the filter
    assert len(get(server, "/api/v1/jobs?lastRunStates=COMPLETED&lastRunStates=FAILED")["jobs"]) == 2
    status, body = server.request("GET", "/api/v1/namespaces/airflow/jobs/nope")
    assert status == 404 and body["code"] == 404 and "nope" in body["message"]  # Marquez's error shape


@pytest.mark.slow
@pytest.mark.usefixtures("airflow_run")
def test_datasets_versions_and_search_with_encoded_names(server: Server) -> None:
    ns, name = enc("s3://lake"), enc("orders/2026-11-22.parquet")
    listing = get(server, f"/api/v1/namespaces/{ns}/datasets?limit=20")
    assert listing["totalCount"] == 1
    ds = get(server, f"/api/v1/namespaces/{ns}/datasets/{name}")
    assert ds["id"] == {"namespace": "s3://lake", "name": "orders/2026-11-22.parquet"} and ds["type"] == "DB_TABLE"
    assert [f["name"] for f in ds["fields"]] == ["order_id", "amount"]
    assert ds["currentVersion"] == written(SCHEMA["fields"]) and ds["facets"]["version"]["datasetVersion"] == "v7"
    versions = get(server, f"/api/v1/namespaces/{ns}/datasets/{name}/versions")
    assert versions["totalCount"] == 2 and [v["version"] for v in versions["versions"]] == [
        written(SCHEMA["fields"]), written(None)]  # newest first
    assert versions["versions"][0]["createdByRun"]["state"] == "COMPLETED"
    assert [f["name"] for f in versions["versions"][1]["fields"]] == []  # START sent no schema
    pg = get(server, f"/api/v1/namespaces/{enc('postgres://db:5432')}/datasets/{enc('shop.public.orders')}")
    assert pg["namespace"] == "postgres://db:5432"
    found = get(server, "/api/v1/search?q=ORDERS&limit=100")
    assert [(r["type"], r["nodeId"]) for r in found["results"]] == [  # by name
        ("DATASET", "dataset:s3://lake:orders/2026-11-22.parquet"),
        ("DATASET", "dataset:postgres://db:5432:shop.public.orders"),
    ]
    assert get(server, "/api/v1/search?q=load&filter=JOB")["results"][0]["nodeId"] == "job:airflow:etl_dag.load"
    assert get(server, "/api/v1/search?q=%25")["totalCount"] == 4  # % is a wildcard, as in Marquez
    assert [r["name"] for r in get(server, "/api/v1/search?q=shop%25orders")["results"]] == ["shop.public.orders"]
    assert server.request("GET", "/api/v1/search?q=%20")[0] == 400
    graph = get(server, f"/api/v1/lineage?nodeId=dataset:{ns}:{name}&depth=2")["graph"]
    ids = {n["id"] for n in graph}
    assert ids == {"dataset:s3://lake:orders/2026-11-22.parquet", "job:airflow:etl_dag.load",
                   "dataset:postgres://db:5432:shop.public.orders"}
    job_node = next(n for n in graph if n["type"] == "JOB")
    assert job_node["data"]["latestRun"]["state"] == "COMPLETED" and "facets" not in job_node["data"]


@pytest.mark.slow
def test_our_cached_runs_join_the_lineage_on_read(server: Server, make_module: Callable[..., ModuleType],
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_NAMESPACE", "ml")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-never-stored")
    m = make_module("from pathlib import Path\nfrom lineage_core import cached\n"
                    "@cached(name='prep.count')\ndef count(path: Path, n: int = 1) -> int:\n"
                    "    return len(path.read_text()) * n\n")
    data = tmp_path / "in.txt"
    data.write_text("hello")
    m.count(data)
    miss = explain(m.count)
    m.count(data)
    hit = explain(m.count)
    m.count(data, n=2)
    other = explain(m.count)
    runs = get(server, "/api/v1/namespaces/ml/jobs/prep.count/runs")
    assert runs["totalCount"] == 3 and {r["state"] for r in runs["runs"]} == {"COMPLETED"}
    cache = get(server, f"/api/v1/jobs/runs/{hit.run_id}/facets?type=run")["facets"]["lineage_cache"]
    assert cache["hit"] is True and cache["sourceRunId"] == miss.run_id
    graph = get(server, f"/api/v1/lineage?nodeId=dataset:file:{data}&depth=2")["graph"]
    assert "job:ml:prep.count" in {n["id"] for n in graph}

    entry = get(server, f"/api/v1/cache/{miss.key}")
    assert entry["runId"] == miss.run_id and entry["job"] == {"namespace": "ml", "name": "prep.count"}
    assert entry["artifact"]["hash"].startswith("blake3:") and entry["manifest"]["params"]
    assert server.request("GET", "/api/v1/cache/blake3:nothing")[0] == 404
    env = get(server, f"/api/v1/runs/{miss.run_id}/environment")
    assert env["environment"]["python"] and "s3cr3t-never-stored" not in json.dumps(env)
    diff = get(server, f"/api/v1/runs/diff?a={miss.run_id}&b={other.run_id}")
    assert diff["same_key"] is False and any("'n'" in line for line in diff["key"])
    assert server.request("GET", "/api/v1/runs/diff?a=zzzzzzzz&b=zzzzzzzz")[0] == 404
    spec = get(server, "/openapi.json")
    assert {"/api/v1/cache/{key}", "/api/v1/runs/diff", "/api/v1/namespaces/{namespace}/jobs/{job}/runs"} <= set(
        spec["paths"])


def test_sync_is_incremental_and_idempotent(make_module: Callable[..., ModuleType], tmp_path: Path) -> None:
    m = make_module("from lineage_core import cached\n@cached(name='inc.step')\ndef step(x: int) -> int:\n"
                    "    return x + 1\n")
    m.step(1)
    m.step(1)
    store = default_store()
    assert sync_runs(store) == 2
    assert sync_runs(store) == 0  # both finished and already in the lineage tables
    m.step(2)
    assert sync_runs(store) == 1
    with store.engine.connect() as c:
        import sqlalchemy as sa

        from lineage_core.store import schema as t

        events = c.execute(sa.select(sa.func.count()).select_from(t.ol_events)).scalar_one()
    assert events == 6  # START + COMPLETE for each of the three runs, each once


@pytest.mark.slow
def test_dashboard_column_lineage_and_marquez_error_bodies(server: Server) -> None:
    store = default_store()
    runs = [airflow_event("COMPLETE", f"2026-11-22T10:{i:02d}:00Z", run_id=f"0190b1a0-0000-7000-8000-0000000000{i:02d}")
            for i in range(12)]
    runs[-1]["outputs"][0]["facets"]["schema"] = SCHEMA
    runs[-1]["inputs"][0]["facets"] = {"schema": SCHEMA}
    runs[-1]["outputs"][0]["facets"]["columnLineage"] = {"_producer": "https://x", "_schemaURL": "https://x",
                                                         "fields": {"amount": {"inputFields": [{
                                                             "namespace": "postgres://db:5432",
                                                             "name": "shop.public.orders", "field": "amount"}]}}}
    ingest(store, runs)
    job = get(server, "/api/v1/namespaces/airflow/jobs/etl_dag.load")
    assert len(job["latestRuns"]) == 10 and job["latestRuns"][0]["id"] == job["latestRun"]["id"] == runs[-1]["run"][
        "runId"]  # Marquez's LAST 10 RUNS, newest first
    names = [n["name"] for n in get(server, "/api/v1/namespaces")["namespaces"]]
    assert "default" in names and names == sorted(names)  # Marquez always has it
    day = get(server, "/api/v1/stats/lineage-events?period=DAY&timezone=Europe%2FBerlin")
    assert len(day) == 24 and set(day[0]) == {"startInterval", "endInterval", "fail", "start", "complete", "abort"}
    week = get(server, "/api/v1/stats/jobs?period=WEEK&timezone=UTC")
    assert len(week) == 7 and week[-1]["count"] == 2 and week[-1]["startInterval"].endswith("T00:00:00Z")
    for what in ("datasets", "sources"):
        assert len(get(server, f"/api/v1/stats/{what}?period=DAY&timezone=UTC")) == 24
    for bad in ("lineage-events?period=WEEK", "jobs?period=MONTH", "jobs?period=DAY&timezone=Mars%2FOlympus"):
        status, body = server.request("GET", f"/api/v1/stats/{bad}")
        assert status == 400 and set(body) == {"code", "message", "details"}, bad
    ns, name = enc("s3://lake"), enc("orders/2026-11-22.parquet")
    col = get(server, f"/api/v1/column-lineage?nodeId=dataset:{ns}:{name}&depth=20&withDownstream=true")
    assert [n["id"] for n in col["graph"]] == ["datasetField:postgres://db:5432:shop.public.orders:amount",
                                               "datasetField:s3://lake:orders/2026-11-22.parquet:amount"]
    assert get(server, f"/api/v1/namespaces/{ns}/datasets/{name}")["columnLineage"][0]["name"] == "amount"
    assert server.request("GET", f"/api/v1/column-lineage?nodeId=dataset:{ns}:nothing")[0] == 404
    assert server.request("GET", "/api/v1/column-lineage?nodeId=job:airflow:etl_dag.load")[0] == 400
    # every refusal in Marquez's body: FastAPI's own 404 and 405 included
    for method, path, status in [("GET", "/api/v1/no/such/route", 404), ("DELETE", "/api/v1/namespaces", 405),
                                 ("GET", "/api/v1/stats/nothing?period=DAY", 404)]:
        got, body = server.request(method, path)
        assert got == status and set(body) == {"code", "message", "details"} and body["code"] == status, path
    event = json.dumps(airflow_event("START", "2026-11-22T11:00:00Z")).encode()
    status, body = server.request("POST", "/api/v1/lineage", event, {"Content-Type": "text/plain"})
    assert status == 415 and body["code"] == 415  # as Marquez
    assert server.request("POST", "/api/v1/lineage", event, {"Content-Type": "application/json; charset=utf-8"})[
        0] == 201
    nameless = airflow_event("START", "2026-11-22T11:01:00Z")
    nameless["inputs"] = [{"namespace": "postgres://db:5432"}]
    status, body = server.request("POST", "/api/v1/lineage", json.dumps(nameless).encode())
    assert status == 422 and "inputs.0.name: is required" in body["message"]
