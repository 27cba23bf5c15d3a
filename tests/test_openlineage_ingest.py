"""Ingest of any producer's OpenLineage events, on both backends: idempotent, all-or-nothing,
Marquez's run-state and parent semantics, unknown facets kept verbatim, derived tables rebuildable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

from lineage_core import explain
from lineage_core.cache import default_store
from lineage_core.openlineage import views
from lineage_core.openlineage.graph import NodeId, lineage
from lineage_core.openlineage.ingest import IngestError, ingest, rebuild
from lineage_core.openlineage.records import run_events
from lineage_core.openlineage.versions import dataset_version, name_uuid
from lineage_core.store import schema as t
from lineage_core.store.ol_events import EventLog

pytestmark = pytest.mark.usefixtures("backend")
SPEC_TESTS = Path(__file__).resolve().parents[2] / "shared" / "openlineage-spec" / "spec" / "tests"
SPEC_EXAMPLE = SPEC_TESTS / "example_full_event.json"
RUN = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def rows(table: sa.Table) -> list[dict[str, Any]]:
    with default_store().engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(table))]


RUN_ID = "0190b1a0-0000-7000-8000-00000000a001"
DAG_RUN_ID = "0190b1a0-0000-7000-8000-00000000d001"


def airflow_event(event_type: str, when: str, run_id: str = RUN_ID) -> dict[str, Any]:
    return {
        "eventType": event_type, "eventTime": when, "producer": "https://github.com/apache/airflow/providers/openlineage",
        "schemaURL": RUN,
        "run": {"runId": run_id, "facets": {
            "parent": {"_producer": "https://x", "_schemaURL": "https://x",
                       "run": {"runId": "0190b1a0-0000-7000-8000-00000000d001"},
                       "job": {"namespace": "airflow", "name": "etl_dag"}},
            "airflow": {"_producer": "https://x", "_schemaURL": "https://x", "dag": {"dag_id": "etl_dag"}},
        }},
        "job": {"namespace": "airflow", "name": "etl_dag.load", "facets": {}},
        "inputs": [{"namespace": "postgres://db:5432", "name": "shop.public.orders"}],
        "outputs": [{"namespace": "s3://lake", "name": "orders/2026-11-22.parquet",
                     "facets": {"version": {"_producer": "https://x", "_schemaURL": "https://x",
                                            "datasetVersion": "v7"}}}],
    }


def test_our_events_ingest_into_a_graph_idempotently(make_module: Callable[..., ModuleType], tmp_path: Path) -> None:
    m = make_module("from pathlib import Path\nfrom lineage_core import cached\n"
                    "@cached(name='ing.count')\ndef count(path: Path) -> int:\n    return len(path.read_text())\n")
    data = tmp_path / "in.txt"
    data.write_text("hello")
    m.count(data)
    miss = explain(m.count).run_id
    m.count(data)
    hit = explain(m.count).run_id
    events = run_events(default_store(), miss) + run_events(default_store(), hit)
    first = ingest(default_store(), events)
    again = ingest(default_store(), events)
    assert (first.stored, first.duplicates, again.stored, again.duplicates) == (4, 0, 0, 4)
    runs = {r["run_id"]: r for r in rows(t.ol_runs)}
    assert runs[miss]["state"] == runs[hit]["state"] == "COMPLETED"
    assert runs[hit]["facets"]["lineage_cache"]["sourceRunId"] == miss
    edges = {(r["direction"], r["dataset_namespace"], r["dataset_name"]) for r in rows(t.ol_edges)}
    assert ("in", "file", str(data)) in edges
    outs = [e for e in edges if e[0] == "out"]
    assert len(outs) == 1 and outs[0][1] == "file"
    (job,) = rows(t.ol_jobs)
    assert (job["namespace"], job["name"], job["latest_run_id"]) == ("default", "ing.count", hit)


def test_foreign_producers_parent_links_state_mapping_and_verbatim_facets() -> None:
    store = default_store()
    ingest(store, [airflow_event("START", "2026-11-22T10:00:00Z")])
    runs = {r["run_id"]: r for r in rows(t.ol_runs)}
    run, parent_run = runs[RUN_ID], runs[DAG_RUN_ID]
    assert run["state"] == "RUNNING" and run["parent_run_id"] == DAG_RUN_ID
    # as Marquez: the parent run a child names exists from then on, in the state of the child's first event
    assert (parent_run["job_name"], parent_run["state"]) == ("etl_dag", "RUNNING")
    ingest(store, [airflow_event("COMPLETE", "2026-11-22T10:05:00.5+00:00")])
    ingest(store, [airflow_event("OTHER", "2026-11-22T10:06:00Z")])  # late: never reopens a finished run
    run = {r["run_id"]: r for r in rows(t.ol_runs)}[RUN_ID]
    assert run["state"] == "COMPLETED" and run["ended_at"] - run["started_at"] == pytest.approx(300.5)
    kept = {"_producer": "https://x", "_schemaURL": "https://x", "dag": {"dag_id": "etl_dag"}}
    assert run["facets"]["airflow"] == kept  # a facet we do not know, kept verbatim
    parent, job = sorted(rows(t.ol_jobs), key=lambda j: j["name"])
    assert (job["parent_namespace"], job["parent_name"], job["type"]) == ("airflow", "etl_dag", "BATCH")
    assert parent["name"] == "etl_dag"  # as Marquez: a parent job named by a child exists
    assert job["current_run_id"] == parent["current_run_id"] == DAG_RUN_ID  # its graph node shows the parent's run
    versions = {(v["namespace"], v["run_id"]): v for v in rows(t.ol_dataset_versions)}
    assert set(versions) == {("postgres://db:5432", None), ("s3://lake", RUN_ID)}  # one read, one write
    written = versions[("s3://lake", RUN_ID)]
    assert written["version"] == dataset_version("s3://lake", "default", "orders/2026-11-22.parquet", None, "",
                                                 RUN_ID)
    assert written["facets"]["version"]["datasetVersion"] == "v7"  # the facet is kept; it names no version
    edges = {(e["direction"], e["dataset_namespace"], e["current"]) for e in rows(t.ol_edges)}
    assert edges == {("in", "postgres://db:5432", True), ("out", "s3://lake", True)}


def test_spark_like_ids_failures_and_the_spec_example() -> None:
    spark = airflow_event("FAIL", "2026-11-22T11:00:00Z", run_id="application_1700000000_0042")
    spark["job"] = {"namespace": "spark", "name": "etl.write_table", "facets": {
        "jobType": {"_producer": "https://x", "_schemaURL": "https://x", "processingType": "STREAMING",
                    "integration": "SPARK"}}}
    example = json.loads(SPEC_EXAMPLE.read_text())
    assert ingest(default_store(), [spark, example]).stored == 2
    runs = {r["job_name"]: r for r in rows(t.ol_runs)}
    # its parent facet names the job etl_dag: as Marquez, the child is etl_dag.<its name>, in its own namespace
    assert runs["etl_dag.etl.write_table"]["state"] == "FAILED"
    assert runs["etl_dag.etl.write_table"]["run_id"] != "application_1700000000_0042"  # a name-based UUID instead
    jobs = {j["name"]: j for j in rows(t.ol_jobs)}
    assert jobs["etl_dag.etl.write_table"]["type"] == "STREAM" and jobs["dbt"]["facets"]["sql"]["query"] == "SELECT 1"


def _child(run_id: str, when: str, namespace: str, name: str, parent_ns: str, parent: str, parent_run: str,
           event_type: str = "START", **run_facets: Any) -> dict[str, Any]:
    facets = {"parent": {"_producer": "https://x", "_schemaURL": "https://x", "run": {"runId": parent_run},
                         "job": {"namespace": parent_ns, "name": parent}}, **run_facets}
    return {"eventType": event_type, "eventTime": when, "producer": "https://x", "schemaURL": RUN,
            "run": {"runId": run_id, "facets": facets}, "job": {"namespace": namespace, "name": name}}


def test_child_jobs_are_named_and_filed_as_marquez_files_them() -> None:
    store = default_store()
    kid, other, pr = (f"0190b1a0-0000-7000-8000-0000000000{i}" for i in ("c1", "c2", "f1"))
    nominal = {"nominalTime": {"_producer": "https://x", "_schemaURL": "https://x",
                               "nominalStartTime": "2026-11-22T08:00:00Z", "nominalEndTime": "2026-11-22T09:00:00Z"}}
    sent = [_child(kid, "2026-11-22T10:00:00Z", "team", "load", "scheduler", "nightly", pr, **nominal),
            _child(kid, "2026-11-22T10:01:00Z", "team", "load", "scheduler", "nightly", pr, "COMPLETE"),
            # the same parent run id under another job: Marquez's "run UUID conflict", a run of its own
            _child(other, "2026-11-22T10:02:00Z", "team", "nightly.other", "elsewhere", "weekly", pr, "COMPLETE")]
    ingest(store, sent)
    jobs = {(j["namespace"], j["name"]): j for j in rows(t.ol_jobs)}
    # <parent>.<child> unless the name starts so already; the parent job Marquez makes is in the child's namespace
    assert set(jobs) == {("team", "nightly"), ("team", "nightly.load"), ("team", "weekly"),
                         ("team", "weekly.nightly.other")}
    assert (jobs[("team", "nightly.load")]["parent_namespace"], jobs[("team", "nightly.load")]["parent_name"]) == (
        "team", "nightly")
    job = views.get_job(store, "team", "nightly.load")
    assert job is not None and (job["simpleName"], job["parentJobName"]) == ("load", "nightly")
    runs = {r["run_id"]: r for r in rows(t.ol_runs)}
    assert (runs[kid]["job_name"], runs[pr]["job_name"]) == ("nightly.load", "nightly")
    weekly = views.job_runs(store, "team", "weekly", 10, 0)["runs"]
    assert [r["id"] for r in weekly] == [name_uuid_url("elsewhere", "weekly", pr)] and weekly[0]["state"] == "COMPLETED"
    parent_run = views.get_run(store, pr)
    assert parent_run is not None and parent_run["state"] == "RUNNING"  # the child's first event made it
    # the parent run has the nominal times of the child's event that made it; a run's own stay in its args
    assert (parent_run["nominalStartTime"], parent_run["nominalEndTime"]) == ("2026-11-22T08:00:00Z",
                                                                              "2026-11-22T09:00:00Z")
    own = views.get_run(store, kid)
    assert own is not None and own["nominalStartTime"] is None and own["args"]["nominal_start_time"]
    too_long = _child(kid, "2026-11-22T10:03:00Z", "team", "c" * 600, "scheduler", "p" * 600, pr)
    with pytest.raises(IngestError, match="child job's name"):  # <parent>.<child> must fit a name, as each part
        ingest(store, [too_long])
    # the raw events are served as they were sent
    assert sorted(e["job"]["name"] for e in EventLog(store).page(0, 2e9, True, 10, 0).items) == [
        "load", "load", "nightly.other"]


def test_a_symlinks_facet_names_the_dataset_again_as_marquez_does() -> None:
    store = default_store()
    link = {"_producer": "https://x", "_schemaURL": "https://x",
            "identifiers": [{"namespace": "hive://meta", "name": "db.orders", "type": "TABLE"}]}
    schema = {"_producer": "https://x", "_schemaURL": "https://x", "fields": [{"name": "id", "type": "int"}]}
    event = {**airflow_event("COMPLETE", "2026-11-22T10:00:00Z"), "outputs": []}
    event["inputs"] = [{"namespace": "s3://lake", "name": "orders", "facets": {"symlinks": link, "schema": schema}}]
    later = {**airflow_event("COMPLETE", "2026-11-22T11:00:00Z", run_id=DAG_RUN_ID.replace("d001", "d002")),
             "outputs": [{"namespace": "s3://other", "name": "orders", "facets": {"symlinks": link}}], "inputs": [],
             "job": {"namespace": "airflow", "name": "etl_dag.save", "facets": {}}}
    ingest(store, [event, later])  # the first dataset to name it keeps the name
    assert "hive://meta" in [n["name"] for n in views.namespaces(store, 100, 0)["namespaces"]]
    listed = views.list_datasets(store, "hive://meta", 10, 0)
    assert listed["totalCount"] == 1
    (alias,) = listed["datasets"]
    assert (alias["id"], alias["physicalName"]) == ({"namespace": "hive://meta", "name": "db.orders"}, "orders")
    assert [f["name"] for f in alias["fields"]] == ["id"] and "symlinks" in alias["facets"]
    page = views.get_dataset(store, "hive://meta", "db.orders")
    assert page is not None and page["facets"] == {} and page["columnLineage"] is None  # as Marquez's page
    assert views.dataset_versions(store, "hive://meta", "db.orders", 10, 0) == {"versions": [], "totalCount": 0}
    job = views.get_job(store, "airflow", "etl_dag.load")
    assert job is not None and job["inputs"] == [{"namespace": "hive://meta", "name": "db.orders"},
                                                 {"namespace": "s3://lake", "name": "orders"}]
    save = views.get_job(store, "airflow", "etl_dag.save")
    assert save is not None and save["outputs"] == [{"namespace": "s3://other", "name": "orders"}]  # named first
    hits = views.search(store, "db.ord", None, "NAME", 10, None)["results"]
    assert [(h["namespace"], h["name"]) for h in hits] == [("hive://meta", "db.orders")]
    bad = {**link, "identifiers": [{"namespace": "n" * 300, "name": "x"}]}  # longer than a namespace may be
    event["inputs"][0]["facets"]["symlinks"] = bad
    with pytest.raises(IngestError, match=r"inputs\.0\.facets\.symlinks\.identifiers\.0\.namespace"):
        ingest(store, [event])
    drawn = lineage(store, NodeId("dataset", "hive://meta", "db.orders"), depth=1)
    assert "dataset:s3://lake:orders" in {n["id"] for n in drawn["graph"]}  # the graph of the dataset it names


def name_uuid_url(*parts: str) -> str:
    url_namespace = bytes.fromhex("6ba7b8119dad11d180b400c04fd430c8")
    return name_uuid(url_namespace + ".".join(parts).encode())


def test_job_and_dataset_events_dispatch_by_schema_url() -> None:
    job_event = {"eventTime": "2026-11-22T12:00:00Z", "producer": "https://x",
                 "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
                 "job": {"namespace": "design", "name": "planned_job"},
                 "inputs": [{"namespace": "gs://raw", "name": "a.csv"}], "outputs": []}
    dataset_event = {"eventTime": "2026-11-22T12:00:00Z", "producer": "https://x",
                     "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
                     "dataset": {"namespace": "gs://raw", "name": "b.csv", "facets": {}}}
    assert ingest(default_store(), [job_event, dataset_event]).stored == 2
    assert rows(t.ol_runs) == [] and [j["name"] for j in rows(t.ol_jobs)] == ["planned_job"]
    assert {d["name"] for d in rows(t.ol_datasets)} == {"a.csv", "b.csv"}


def test_a_bad_event_stores_nothing_from_its_batch() -> None:
    good = airflow_event("START", "2026-11-22T10:00:00Z")
    no_run = {k: v for k, v in good.items() if k != "run"}
    bad_type = {**good, "eventType": "FINISHED"}
    with pytest.raises(IngestError) as e:
        ingest(default_store(), [good, no_run, bad_type, "not an event"])
    assert len(e.value.problems) == 3 and "event 1: a RunEvent needs run.runId" in str(e.value)
    assert "event 2: eventType 'FINISHED'" in str(e.value)
    assert rows(t.ol_events) == [] and rows(t.ol_runs) == []


def test_derived_tables_rebuild_from_raw_events() -> None:
    store = default_store()
    ingest(store, [airflow_event("START", "2026-11-22T10:00:00Z"), airflow_event("COMPLETE", "2026-11-22T10:01:00Z")])
    derived = (t.ol_jobs, t.ol_runs, t.ol_datasets, t.ol_dataset_versions, t.ol_edges, t.ol_run_versions,
               t.ol_sources, t.ol_column_lineage)
    before = [sorted(rows(tb), key=repr) for tb in derived]
    with store.engine.begin() as c:
        c.execute(t.ol_runs.delete())
        c.execute(t.ol_edges.delete())
    assert rebuild(store) == 2
    assert [sorted(rows(tb), key=repr) for tb in derived] == before


def test_cli_ingests_files_and_rejects_bad_ones(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    lines = tmp_path / "events.jsonl"
    lines.write_text("\n".join(json.dumps(airflow_event(k, f"2026-11-22T10:00:0{i}Z"))
                               for i, k in enumerate(("START", "COMPLETE"))))
    cli = [sys.executable, "-m", "lineage_core.cli", "events", "ingest"]
    out = subprocess.run([*cli, str(lines)], capture_output=True, text=True, env=os.environ.copy())
    assert out.returncode == 0 and "stored 2 event(s), 0 already stored" in out.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"eventTime": "2026-11-22T10:00:00Z"}]))
    out = subprocess.run([*cli, str(bad)], capture_output=True, text=True, env=os.environ.copy())
    assert out.returncode != 0 and "missing required field 'producer'" in out.stderr and "Traceback" not in out.stderr
