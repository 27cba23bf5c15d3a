"""The events of producers other than our own pipeline, as the UI test's store gets them (``POST /api/v1/lineage``,
one event at a time, as an OpenLineage HTTP transport sends them), all dated within the last few hours:

- the Airflow provider: the example DAG train_sklearn's two runs, from the golden events its suite checks
  (tests/airflow/expected_events/, where what changes per run is a placeholder): each placeholder is given a
  value again, each facet its content (our facets' taken from a run of the demo in the same store);
- a Spark job (what the OpenLineage Spark integration sends for an INSERT … SELECT): datasets with schema and
  data-source facets, a ``columnLineage`` facet on its output, a ``sql`` job facet, START/RUNNING/COMPLETE;
- a scheduled report with no ``version`` facet on any dataset and :data:`REPORT_RUNS` runs, one of them FAILED:
  what a plain openlineage-python user sends.

Built with openlineage-python's own classes, so each event is what that client would put on the wire.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    dataset_version_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    ownership_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    sql_job,
    tags_job,
)
from openlineage.client.serde import Serde

from lineage_core.openlineage.facets import CACHE_FACET_URL

GOLDEN = Path(__file__).resolve().parents[1] / "airflow" / "expected_events"
AIRFLOW = "https://github.com/apache/airflow/tree/providers-openlineage/2.3.0"
SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.40.0/integration/spark"
PYTHON = "https://github.com/OpenLineage/OpenLineage/tree/1.40.0/client/python"

AIRFLOW_NS, DAG = "airflow-test", "train_sklearn"
TASKS = ("prepare", "train", "evaluate")  # the DAG's order
SPARK_NS, SPARK_JOB = "spark-etl", "orders_daily.execute_insert_into_hadoop_fs_relation_command"
ORDERS = ("postgres://warehouse-db:5432", "shop.public.orders")
ORDERS_DAILY = ("s3://analytics", "marts/orders_daily")
ORDERS_FIELDS = {"order_id": "bigint", "customer_id": "bigint", "amount": "decimal(10,2)", "created_at": "timestamp"}
DAILY_FIELDS = {"day": "date", "customer_id": "bigint", "order_count": "bigint", "total_amount": "decimal(12,2)"}
DAILY_FROM = {"day": [("created_at", "TRANSFORMATION", "")], "customer_id": [("customer_id", "DIRECT", "IDENTITY")],
              "order_count": [("order_id", "DIRECT", "AGGREGATION")],
              "total_amount": [("amount", "DIRECT", "AGGREGATION")]}
REPORT_NS, REPORT_JOB = "reports", "nightly_summary"
SUMMARY = ("s3://analytics", "reports/nightly_summary")
SUMMARY_FIELDS = {"day": "date", "customers": "bigint", "revenue": "decimal(14,2)"}
REPORT_RUNS = 12
REPORT_FAILED = 7  # the index of the run that fails


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _schema(fields: dict[str, str], producer: str) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in fields.items()], producer=producer)


def _event(state: RunState, when: dt.datetime, run_id: str, job: Job, producer: str, run_facets: dict[str, Any],
           inputs: list[InputDataset] | None = None, outputs: list[OutputDataset] | None = None) -> dict[str, Any]:
    event = RunEvent(eventType=state, eventTime=_iso(when), run=Run(runId=run_id, facets=run_facets), job=job,
                     producer=producer, inputs=inputs or [], outputs=outputs or [])
    data: dict[str, Any] = json.loads(Serde.to_json(event))
    return data


# -- Airflow: the golden events of train_sklearn, given values again --------------------------------------------

def _blob(home: str, job: str) -> tuple[str, str]:
    """The blob a task wrote (the same in both DAG runs: the second run's hits return the first's artifacts)."""
    digest = hashlib.sha256(job.encode()).hexdigest()
    return f"{home}/artifacts/blobs/{digest[:2]}/{digest}", f"blake3:{digest}"


def airflow_events(start: dt.datetime, our_facets: dict[str, Any], home: str = "/tmp/airflow-ui/lineage-home"
                   ) -> list[dict[str, Any]]:
    """Both golden DAG runs from ``start`` on, a task a minute. ``our_facets``: a stored run's facets of ours
    (``lineage_environment`` is taken from it)."""
    events: list[dict[str, Any]] = []
    first_runs: dict[str, str] = {}
    for n, name in enumerate(("first_run", "second_run")):
        dag_run = str(uuid.uuid4())
        golden = json.loads((GOLDEN / f"{DAG}.{name}.json").read_text())
        tasks = sorted({g["job"]["name"] for g in golden}, key=lambda j: TASKS.index(j.rsplit(".", 1)[1]))
        for t, task in enumerate(tasks):
            run_id = str(uuid.uuid4())
            first_runs.setdefault(task, run_id)
            began = start + dt.timedelta(minutes=10 * n + 2 * t)
            for g in (g for g in golden if g["job"]["name"] == task):
                events.append(_airflow_event(g, run_id, dag_run, first_runs[task], home, our_facets,
                                             began if g["eventType"] == "START" else began + dt.timedelta(seconds=40)))
    return events


def _airflow_event(g: dict[str, Any], run_id: str, dag_run: str, first_run: str, home: str,
                   our_facets: dict[str, Any], when: dt.datetime) -> dict[str, Any]:
    job = g["job"]
    producer = AIRFLOW
    facets: dict[str, Any] = {}
    golden_run = g["run"]
    parent = golden_run.get("parent")
    if parent:
        pjob = parent["job"]
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=dag_run), job=parent_run.Job(namespace=pjob["namespace"], name=pjob["name"]),
            root=parent_run.Root(run=parent_run.RootRun(runId=dag_run),
                                 job=parent_run.RootJob(namespace=pjob["namespace"], name=pjob["name"])),
            producer=producer)
    run: dict[str, Any] = {}
    cache = golden_run.get("lineage_cache")
    if cache:
        run["lineage_cache"] = {
            "_producer": our_facets["lineage_cache"]["_producer"], "_schemaURL": CACHE_FACET_URL,
            "hit": cache["hit"], "key": f"blake3:{hashlib.sha256(job['name'].encode()).hexdigest()}",
            "keySchema": cache["keySchema"], "components": {c: "blake3:" + "0" * 64 for c in cache["components"]},
            "sourceRunId": first_run if cache["sourceRunId"] else None,
            "missReasons": [r.replace("<tmp>", home.rsplit("/", 1)[0]) for r in cache["missReasons"]]}
    if golden_run.get("lineage_environment"):
        env = our_facets["lineage_environment"]
        run["lineage_environment"] = {k: env[k] for k in golden_run["lineage_environment"] if k in env}
    jobfacets = {
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="AIRFLOW", jobType="TASK",
                                                producer=producer),
        "ownership": ownership_job.OwnershipJobFacet(owners=[ownership_job.Owner(name="airflow")], producer=producer),
        "tags": tags_job.TagsJobFacet(tags=[tags_job.TagsJobFacetFields(key="example", value="", source="AIRFLOW")],
                                      producer=producer),
    }
    outputs = []
    for o in g["outputs"]:
        path, version = _blob(home, job["name"])
        dsfacets: dict[str, Any] = {}
        if "version" in o["facets"]:
            dsfacets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version,
                                                                                      producer=producer)
        if "schema" in o["facets"]:
            dsfacets["schema"] = _schema({"alcohol": "float64", "malic_acid": "float64", "target": "int64",
                                          "split": "object"}, producer)
        outputs.append(OutputDataset(namespace=o["namespace"], name=path, facets=dsfacets))
    event = _event(RunState(g["eventType"]), when, run_id, Job(namespace=job["namespace"], name=job["name"],
                   facets=jobfacets), producer, facets, outputs=outputs)
    event["run"]["facets"].update(run)  # our facets, as the provider passes them through
    return event


# -- Spark: column lineage ----------------------------------------------------------------------------------

def spark_events(start: dt.datetime) -> list[dict[str, Any]]:
    run_id = str(uuid.uuid4())
    engine = {"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
        version="3.5.1", name="spark", openlineageAdapterVersion="1.40.0", producer=SPARK)}
    job = Job(namespace=SPARK_NS, name=SPARK_JOB, facets={
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="SPARK", jobType="SQL_JOB",
                                                producer=SPARK),
        "sql": sql_job.SQLJobFacet(query="INSERT INTO marts.orders_daily SELECT date(created_at) AS day, customer_id, "
                                         "count(order_id), sum(amount) FROM shop.public.orders GROUP BY 1, 2",
                                   producer=SPARK)})
    source = {ns: datasource_dataset.DatasourceDatasetFacet(name=ns, uri=ns, producer=SPARK)
              for ns in (ORDERS[0], ORDERS_DAILY[0])}
    orders = InputDataset(namespace=ORDERS[0], name=ORDERS[1],
                          facets={"dataSource": source[ORDERS[0]], "schema": _schema(ORDERS_FIELDS, SPARK)})
    lineage = column_lineage_dataset.ColumnLineageDatasetFacet(fields={
        out: column_lineage_dataset.Fields(inputFields=[
            column_lineage_dataset.InputField(namespace=ORDERS[0], name=ORDERS[1], field=src, transformations=[
                column_lineage_dataset.Transformation(type=kind, subtype=sub or None, description="", masking=False)])
            for src, kind, sub in sources]) for out, sources in DAILY_FROM.items()}, producer=SPARK)
    daily = OutputDataset(
        namespace=ORDERS_DAILY[0], name=ORDERS_DAILY[1],
        facets={"dataSource": source[ORDERS_DAILY[0]], "schema": _schema(DAILY_FIELDS, SPARK),
                "columnLineage": lineage},
        outputFacets={"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=1830, size=48213, producer=SPARK)})
    return [_event(state, start + dt.timedelta(seconds=s), run_id, job, SPARK, engine, [orders], [daily])
            for state, s in ((RunState.START, 0), (RunState.RUNNING, 20), (RunState.COMPLETE, 75))]


# -- a plain openlineage-python producer: no version facets, many runs ------------------------------------------

def report_events(start: dt.datetime) -> list[dict[str, Any]]:
    """:data:`REPORT_RUNS` runs 15 minutes apart from ``start``, of different lengths; run :data:`REPORT_FAILED`
    fails. It reads the Spark job's output and writes a summary (schema facets, no version facet)."""
    job = Job(namespace=REPORT_NS, name=REPORT_JOB, facets={"jobType": job_type_job.JobTypeJobFacet(
        processingType="BATCH", integration="PYTHON", jobType="JOB", producer=PYTHON)})
    reads = [InputDataset(namespace=ORDERS_DAILY[0], name=ORDERS_DAILY[1],
                          facets={"schema": _schema(DAILY_FIELDS, PYTHON)})]
    writes = [OutputDataset(namespace=SUMMARY[0], name=SUMMARY[1], facets={"schema": _schema(SUMMARY_FIELDS, PYTHON)})]
    events = []
    for i in range(REPORT_RUNS):
        run_id = str(uuid.uuid4())
        began = start + dt.timedelta(minutes=15 * i)
        ended = began + dt.timedelta(seconds=5 + 7 * (i % 5))
        events.append(_event(RunState.START, began, run_id, job, PYTHON, {}, reads))
        if i == REPORT_FAILED:
            failure = {"errorMessage": error_message_run.ErrorMessageRunFacet(
                message="division by zero: no orders on 2026-01-01", programmingLanguage="python", producer=PYTHON)}
            events.append(_event(RunState.FAIL, ended, run_id, job, PYTHON, failure, reads))
        else:
            events.append(_event(RunState.COMPLETE, ended, run_id, job, PYTHON, {}, reads, writes))
    return events
