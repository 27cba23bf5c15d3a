"""Marquez's versions and run semantics on ingested events, on both backends: version UUIDs computed as Marquez
computes them, the current version a run read or wrote (a failed write keeps the previous one), job versions,
start times and late events, job facets, an upgraded store rebuilding its lineage, and the details its UI shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from lineage_core.cache import default_store
from lineage_core.openlineage import views
from lineage_core.openlineage.ingest import ingest
from lineage_core.openlineage.job_versions import job_versions
from lineage_core.openlineage.sync import sync_runs
from lineage_core.openlineage.versions import dataset_version, job_version, name_uuid, parent_run_uuid
from lineage_core.store import Store
from lineage_core.store import schema as t
from lineage_core.store.metadata import _MIGRATIONS, HEAD_REVISION
from lineage_core.store.ol_events import EventLog

from .test_openlineage_ingest import DAG_RUN_ID, RUN, RUN_ID, airflow_event

pytestmark = pytest.mark.usefixtures("backend")


def test_version_uuids_are_computed_as_marquez_computes_them() -> None:
    assert name_uuid(b"") == "d41d8cd9-8f00-3204-a980-0998ecf8427e"  # Java: UUID.nameUUIDFromBytes(new byte[0])
    fields = [{"name": "b", "type": "int"}, {"name": "a", "type": "string", "description": "d"}, {"name": "c"}]
    # namespace:source:name:physicalName:fields (name:TYPE:description, sorted, nulls skipped):lifecycle:run
    assert dataset_version("ns", "default", "t", fields, "", "r") == name_uuid(b"ns:default:t:t:a:STRING:d:b:INT:c::r")
    assert dataset_version("ns", "src", "t", None, "DROP", None) == name_uuid(b"ns:src:t:t::DROP")
    assert job_version("ns", "j", [("b", "2"), ("a", "1"), ("a", "1")], [], "git://x") == name_uuid(
        b"ns:j:a:1:b:2::git://x")
    assert parent_run_uuid("airflow", "dag.task", DAG_RUN_ID) == DAG_RUN_ID
    url_namespace = bytes.fromhex("6ba7b8119dad11d180b400c04fd430c8")
    assert parent_run_uuid("airflow", "dag.task", "manual__1") == name_uuid(url_namespace + b"airflow.dag.manual__1")


def run_event(kind: str, when: str, run: str, inputs: list[dict[str, Any]] | None = None,
              outputs: list[dict[str, Any]] | None = None, job_facets: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"eventType": kind, "eventTime": when, "producer": "https://x", "schemaURL": RUN,
            "run": {"runId": run}, "job": {"namespace": "ns", "name": "job", "facets": job_facets or {}},
            "inputs": inputs or [], "outputs": outputs or []}


def table(name: str, *fields: str) -> dict[str, Any]:
    return {"namespace": "db", "name": name, "facets": {"schema": {
        "_producer": "https://x", "_schemaURL": "https://x", "fields": [{"name": f, "type": "int"} for f in fields]}}}


def run_id(n: int) -> str:
    return f"0190b1a0-0000-7000-8000-{n:012d}"


def test_runs_read_the_current_version_and_a_failed_write_keeps_the_previous_one() -> None:
    store = default_store()
    ingest(store, [run_event("START", "2026-11-22T10:00:00Z", run_id(1), outputs=[table("t", "a")]),
                   run_event("COMPLETE", "2026-11-22T10:01:00Z", run_id(1), outputs=[table("t", "a")])])
    first = dataset_version("db", "default", "t", [{"name": "a", "type": "int"}], "", run_id(1))
    ds = views.get_dataset(store, "db", "t")
    assert ds is not None and ds["currentVersion"] == first and [f["name"] for f in ds["fields"]] == ["a"]
    # a reader reads the version that is current when it reads
    ingest(store, [run_event("COMPLETE", "2026-11-22T10:02:00Z", run_id(2), inputs=[table("t")])])
    read = views.get_run(store, run_id(2))
    assert read is not None and read["inputDatasetVersions"][0]["datasetVersionId"]["version"] == first
    # a write whose run fails (or is aborted) is a version, but not the current one: the schema stays
    for n, kind in ((3, "FAIL"), (4, "ABORT")):
        ingest(store, [run_event(kind, f"2026-11-22T10:0{n}:00Z", run_id(n), outputs=[table("t", "a", "b")])])
        ds = views.get_dataset(store, "db", "t")
        assert ds is not None and ds["currentVersion"] == first and [f["name"] for f in ds["fields"]] == ["a"]
    versions = views.dataset_versions(store, "db", "t", 10, 0)
    assert versions["totalCount"] == 3 and [v["createdByRun"]["state"] for v in versions["versions"]] == [
        "ABORTED", "FAILED", "COMPLETED"]
    # a dataset first read (nothing wrote it) gets a version, the current one, made by no run
    ingest(store, [run_event("COMPLETE", "2026-11-22T10:05:00Z", run_id(5), inputs=[table("raw", "x")])])
    (raw,) = views.dataset_versions(store, "db", "raw", 10, 0)["versions"]
    assert raw["createdByRun"] is None and raw["version"] == views.get_dataset(store, "db", "raw")["currentVersion"]


def test_job_versions_follow_what_each_run_read_and_wrote() -> None:
    store = default_store()
    ingest(store, [run_event("START", "2026-11-22T10:00:00Z", run_id(1), inputs=[table("a")]),
                   run_event("COMPLETE", "2026-11-22T10:01:00Z", run_id(1), outputs=[table("b")])])
    job = views.get_job(store, "ns", "job")
    v1 = job_version("ns", "job", [("db", "a")], [("db", "b")], None)
    assert job is not None and job["currentVersion"] == v1 and job["latestRun"]["jobVersion"]["version"] == v1
    ingest(store, [run_event("START", "2026-11-22T10:02:00Z", run_id(2), inputs=[table("a")])])
    job = views.get_job(store, "ns", "job")
    assert job is not None and job["currentVersion"] == v1 and job["latestRun"]["jobVersion"] is None  # running
    ingest(store, [run_event("COMPLETE", "2026-11-22T10:03:00Z", run_id(2), outputs=[table("c")])])
    job = views.get_job(store, "ns", "job")
    assert job is not None and job["currentVersion"] == job_version("ns", "job", [("db", "a")], [("db", "c")], None)
    assert job["outputs"] == [{"namespace": "db", "name": "c"}]  # b is no longer an output
    listed = job_versions(store, "ns", "job", 10, 0)
    assert listed is not None and [(v["version"], v["outputs"], v["latestRun"]["id"]) for v in listed["versions"]] == [
        (job["currentVersion"], [{"namespace": "db", "name": "c"}], run_id(2)),
        (v1, [{"namespace": "db", "name": "b"}], run_id(1))]  # newest first, as Marquez lists them
    assert job_versions(store, "ns", "nothing", 10, 0) is None


def test_start_is_the_last_running_event_and_a_late_one_never_reopens() -> None:
    store = default_store()
    ingest(store, [run_event("START", "2026-11-22T10:00:00Z", run_id(1)),
                   run_event("RUNNING", "2026-11-22T10:01:00Z", run_id(1)),
                   run_event("COMPLETE", "2026-11-22T10:05:00Z", run_id(1)),
                   run_event("RUNNING", "2026-11-22T10:09:00Z", run_id(1))])  # late (Marquez reopens the run)
    run = views.get_run(store, run_id(1))
    assert run is not None and (run["state"], run["startedAt"], run["endedAt"], run["durationMs"]) == (
        "COMPLETED", "2026-11-22T10:01:00Z", "2026-11-22T10:05:00Z", 240_000)


def test_job_facets_are_the_latest_runs_not_every_runs() -> None:
    store = default_store()
    doc = {"_producer": "https://x", "_schemaURL": "https://x", "description": "old"}
    kind = {"_producer": "https://x", "_schemaURL": "https://x", "processingType": "BATCH", "integration": "SPARK",
            "jobType": "JOB"}
    ingest(store, [run_event("COMPLETE", "2026-11-22T10:00:00Z", run_id(1), job_facets={"documentation": doc})])
    ingest(store, [run_event("START", "2026-11-22T10:01:00Z", run_id(2), job_facets={"jobType": kind}),
                   run_event("COMPLETE", "2026-11-22T10:02:00Z", run_id(2))])
    job = views.get_job(store, "ns", "job")
    assert job is not None and set(job["facets"]) == {"jobType"} and job["description"] is None
    assert job["labels"] == ["JOB", "SPARK"]


def test_an_upgraded_store_rebuilds_its_lineage_from_the_raw_events(backend: str, tmp_path: Path,
                                                                     lineage_home: Path) -> None:
    """A store at 0008, its derived rows from older semantics (a version only from a version facet): migrated,
    the first read re-derives everything, so it answers with versions for every write (an event today's
    validation refuses is left out, and the rest answers)."""
    lineage_home.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(backend)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    start, done = airflow_event("START", "2026-11-22T10:00:00Z"), airflow_event("COMPLETE", "2026-11-22T10:05:00Z")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
        refused = {**airflow_event("OTHER", "2026-11-22T10:06:00Z"), "inputs": "x"}  # kept by a laxer version
        for i, e in enumerate((start, done, refused)):
            conn.execute(t.ol_events.insert().values(
                id=f"e{i}", kind="RunEvent", event_type=e["eventType"], run_id=RUN_ID, job_namespace="airflow",
                job_name="etl_dag.load", event_time=1795000000.0 + i, payload=e, received_at=1.0))
        conn.execute(sa.text("INSERT INTO ol_datasets (namespace, name, facets, current_version, created_at, "
                             "updated_at) VALUES ('s3://lake', 'orders/2026-11-22.parquet', '{}', 'v7', 1, 1)"))
    engine.dispose()
    store = Store.from_url(backend, (tmp_path / "artifacts").as_uri())
    try:
        assert store.current_revision() == HEAD_REVISION
        sync_runs(store)  # what every read does first
        ds = views.get_dataset(store, "s3://lake", "orders/2026-11-22.parquet")
        assert ds is not None and ds["currentVersion"] == dataset_version(
            "s3://lake", "default", "orders/2026-11-22.parquet", None, "", RUN_ID)
        job = views.get_job(store, "airflow", "etl_dag.load")
        assert job is not None and job["latestRun"]["state"] == "COMPLETED" and job["currentVersion"]
        with store.engine.connect() as c:
            assert c.execute(sa.select(t.ol_sync.c.source).where(t.ol_sync.c.source == "rebuild")).first() is None
    finally:
        store.close()


def test_details_the_marquez_ui_shows_as_marquez_shows_them() -> None:
    """Checked against a real Marquez 0.51.1 on the same events (tests/conformance compares the whole corpus)."""
    store = default_store()
    quality = {"_producer": "https://x", "_schemaURL": "https://x", "rowCount": 3, "columnMetrics": {}}
    stats_ = {"_producer": "https://x", "_schemaURL": "https://x", "rowCount": 3}
    src = {"_producer": "https://x", "_schemaURL": "https://x", "name": "warehouse", "uri": "postgres://db"}
    read = table("t", "a")
    read["facets"]["dataQualityMetrics"] = quality  # an input facet, wherever it is sent (Marquez files it so)
    wrote = table("u", "x")
    wrote["facets"].update(outputStatistics=stats_, dataSource=src)
    design = {"eventTime": "2026-11-22T09:00:00Z", "producer": "https://x",
              "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
              "job": {"namespace": "ns", "name": "designed"}, "inputs": [table("planned_in")], "outputs": []}
    ingest(store, [design, run_event("START", "2026-11-22T10:00:00.0006Z", run_id(1), inputs=[read]),
                   run_event("COMPLETE", "2026-11-22T10:00:00.0081Z", run_id(1), outputs=[wrote, table("v")])])
    run = views.get_run(store, run_id(1))
    assert run is not None and run["durationMs"] == 8  # 7.5 ms: 8.1 - 0.6, each floored first (Instant.until)
    assert run["inputDatasetVersions"][0]["facets"] == {"dataQualityMetrics": quality}
    assert [v["facets"] for v in run["outputDatasetVersions"]] == [{"outputStatistics": stats_}, {}]
    t_, u = views.get_dataset(store, "db", "t"), views.get_dataset(store, "db", "u")
    assert t_ is not None and "dataQualityMetrics" in t_["facets"]
    assert u is not None and "outputStatistics" not in u["facets"] and u["sourceName"] == "warehouse"
    assert u["lastModifiedAt"] is None
    (version,) = views.dataset_versions(store, "db", "u", 10, 0)["versions"]
    assert version["currentSchemaVersion"] == name_uuid(b"db:u:x:int") and version["fields"][0]["name"] == "x"
    planned = views.get_dataset(store, "db", "planned_in")
    assert planned is not None and planned["currentVersion"] is None  # a JobEvent's read makes no version current
    designed = views.get_job(store, "ns", "designed")
    assert designed is not None and designed["latestRuns"] is None and designed["latestRun"] is None
    # a job with no current run passes every lastRunStates filter; jobs are listed most recently changed first
    assert [j["name"] for j in views.list_jobs(store, "ns", 10, 0, ["FAILED"])["jobs"]] == ["designed"]
    assert [j["name"] for j in views.list_jobs(store, "ns", 10, 0)["jobs"]] == ["job", "designed"]
    (ns,) = [n for n in views.namespaces(store, 10, 0)["namespaces"] if n["name"] == "ns"]
    assert ns["updatedAt"] == ns["createdAt"] == "2026-11-22T09:00:00Z"  # never updated once made
    page = EventLog(store).page(0, 4102444800.0, True, 10, 0)
    assert len(page.items) == 2 and all("run" in e for e in page.items)  # RunEvents only, as Marquez lists them
    assert page.total == 3  # and counts every event
    assert views.run_facets(store, run_id(1), "job") == (True, None)  # no job facet sent: nothing, as Marquez
    assert views.run_facets(store, run_id(9), "run") == (False, None)
