"""The synthetic stories of the corpus: a Spark-like job with schemas and column lineage, parent and child
jobs, a job whose outputs change between runs, every run state (and the orders Marquez treats specially), a
chain for graph depths, static job and dataset events. The real producers' events are in :mod:`.sources`."""

from __future__ import annotations

from typing import Any

from .events import (
    DATASET_EVENT,
    JOB_EVENT,
    PRODUCER,
    Clock,
    Story,
    dataset,
    error_message,
    facet,
    job_type,
    nominal,
    parent,
    run_event,
    run_id,
    schema,
)

SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.52.0/integration/spark"
SHOP = "postgres://shop-db.internal:5432"
LAKE = "s3://warehouse"


def _field(ns: str, name: str, col: str, kind: str = "DIRECT", sub: str = "IDENTITY") -> dict[str, Any]:
    return {"namespace": ns, "name": name, "field": col, "transformations": [{"type": kind, "subtype": sub}]}


def _column_lineage(fields: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return facet("ColumnLineageDatasetFacet", "1-2-0", fields={k: {"inputFields": v} for k, v in fields.items()})


def spark(c: Clock) -> Story:
    """Two Spark jobs: orders + customers (PostgreSQL) -> orders_clean -> orders_daily (S3), column lineage on
    both outputs; the second run of the first job adds a column (a new schema version)."""
    ns, etl, report = "spark-prod", "orders_etl.execute_insert_into_hadoop_fs_relation_command.orders_clean", \
        "orders_report.execute_insert_into_hadoop_fs_relation_command.orders_daily"
    source = facet("DatasourceDatasetFacet", name="shop-db", uri=f"{SHOP}/shop")
    orders = dataset(SHOP, "shop.public.orders", dataSource=source, schema=schema(
        ("id", "integer"), ("customer_id", "integer"), ("amount", "decimal(10,2)"), ("created_at", "timestamp")))
    customers = dataset(SHOP, "shop.public.customers", dataSource=source,
                        schema=schema(("id", "integer"), ("name", "varchar"), ("country", "varchar")))
    engine = {"processing_engine": facet("ProcessingEngineRunFacet", "1-1-1", version="3.5.1", name="spark",
                                         openlineageAdapterVersion="1.52.0"),
              "spark_properties": {"_producer": SPARK, "_schemaURL": f"{SPARK}/spark_properties.json",
                                   "properties": {"spark.app.name": "orders_etl", "spark.master": "yarn"}}}
    jobf = {"jobType": job_type("JOB", "SPARK"),
            "sql": facet("SQLJobFacet", "1-1-0", query="INSERT INTO orders_clean SELECT o.id, c.name, o.amount "
                                                       "FROM orders o JOIN customers c ON o.customer_id = c.id")}
    join = [_field(SHOP, "shop.public.orders", "customer_id", "INDIRECT", "JOIN"),
            _field(SHOP, "shop.public.customers", "id", "INDIRECT", "JOIN")]

    def clean(extra: bool) -> dict[str, Any]:
        cols = [("order_id", "integer"), ("customer_name", "varchar"), ("amount", "decimal(10,2)"), ("day", "date")]
        lineage = {"order_id": [_field(SHOP, "shop.public.orders", "id")],
                   "customer_name": [_field(SHOP, "shop.public.customers", "name"), *join],
                   "amount": [_field(SHOP, "shop.public.orders", "amount", sub="TRANSFORMATION")],
                   "day": [_field(SHOP, "shop.public.orders", "created_at", sub="TRANSFORMATION")]}
        if extra:
            cols.append(("country", "varchar"))
            lineage["country"] = [_field(SHOP, "shop.public.customers", "country"), *join]
        out = dataset(LAKE, "orders_clean", schema=schema(*cols), columnLineage=_column_lineage(lineage))
        out["outputFacets"] = {"outputStatistics": facet("OutputStatisticsOutputDatasetFacet", "1-0-2",
                                                         rowCount=1200 if extra else 1000, size=48_000)}
        return out

    daily = dataset(LAKE, "orders_daily", schema=schema(("day", "date"), ("total", "decimal(12,2)")),
                    columnLineage=_column_lineage({
                        "day": [_field(LAKE, "orders_clean", "day")],
                        "total": [_field(LAKE, "orders_clean", "amount", sub="AGGREGATION")]}))
    events = []
    for n, (start, extra) in enumerate(((10, False), (100, True))):
        r = run_id("spark", n)
        bare = [dataset(SHOP, d["name"]) for d in (orders, customers)]
        events += [
            run_event("START", c.at(start), r, ns, etl, inputs=bare, run_facets=engine, job_facets=jobf,
                      producer=SPARK),
            run_event("RUNNING", c.at(start + 1), r, ns, etl, inputs=[orders, customers], producer=SPARK),
            run_event("COMPLETE", c.at(start + 3), r, ns, etl, inputs=[orders, customers], outputs=[clean(extra)],
                      run_facets=engine, job_facets=jobf, producer=SPARK),
        ]
        r2 = run_id("spark-report", n)
        events += [run_event(kind, c.at(start + 5 + i), r2, ns, report, inputs=[dataset(LAKE, "orders_clean")],
                             outputs=[daily] if kind == "COMPLETE" else [], run_facets=engine,
                             job_facets={"jobType": job_type("JOB", "SPARK")}, producer=SPARK)
                   for i, kind in enumerate(("START", "COMPLETE"))]
    return Story("spark", events)


def parents(c: Clock) -> Story:
    """A parent run with children named ``<parent>.<child>`` and one that is not; a child whose parent was never
    sent; the root facet."""
    ns, store = "scheduler", "s3://nightly"
    p = run_id("parents", "nightly")
    dag = {"jobType": job_type("DAG", "AIRFLOW")}
    task = {"jobType": job_type("TASK", "AIRFLOW")}
    up = {"parent": parent(p, ns, "nightly", root=(p, ns, "nightly"))}
    kids = [("nightly.extract", [], ["raw/events.json"]), ("nightly.load", ["raw/events.json"], ["tables/events"]),
            ("standalone_child", ["tables/events"], ["exports/events.csv"])]
    events = [run_event("START", c.at(20), p, ns, "nightly", job_facets=dag, run_facets={
        "nominalTime": nominal(c.at(20), c.at(80))})]
    for i, (job, ins, outs) in enumerate(kids):
        r = run_id("parents", job)
        for kind, at in (("START", 21 + 5 * i), ("COMPLETE", 24 + 5 * i)):
            events.append(run_event(kind, c.at(at), r, ns, job, job_facets=task, run_facets=up,
                                    inputs=[dataset(store, n) for n in ins],
                                    outputs=[dataset(store, n) for n in outs] if kind == "COMPLETE" else []))
    events.append(run_event("COMPLETE", c.at(40), p, ns, "nightly", job_facets=dag))
    orphan = {"parent": parent(run_id("parents", "never-sent"), ns, "orphan_dag")}
    r = run_id("parents", "orphan")
    events += [run_event(kind, c.at(at), r, ns, "orphan_dag.task", run_facets=orphan, job_facets=task,
                         outputs=[dataset(store, "orphan/out")] if kind == "COMPLETE" else [])
               for kind, at in (("START", 45), ("COMPLETE", 46))]
    return Story("parents", events)


def changing_outputs(c: Clock) -> Story:
    """``reports.build`` writes summary + detail, then summary + extra, then reads b.csv instead of a.csv;
    ``consume_detail`` keeps reading the detail the first run wrote."""
    ns, src, out = "reports", "s3://reports-src", "s3://reports"
    plan = [(["a.csv"], ["summary", "detail"]), (["a.csv"], ["summary", "extra"]), (["b.csv"], ["summary", "extra"])]
    events = []
    for n, (ins, outs) in enumerate(plan):
        r, t = run_id("changing", n), 30 + 20 * n
        inputs = [dataset(src, i, schema=schema(("id", "integer"))) for i in ins]
        events += [run_event("START", c.at(t), r, ns, "build", inputs=inputs),
                   run_event("COMPLETE", c.at(t + 2), r, ns, "build", inputs=inputs,
                             outputs=[dataset(out, o, schema=schema(("id", "integer"), (o, "double"))) for o in outs])]
        if n == 0:
            rc = run_id("changing", "consume")
            events.append(run_event("COMPLETE", c.at(t + 5), rc, ns, "consume_detail",
                                    inputs=[dataset(out, "detail")], outputs=[dataset(out, "detail_report")]))
    return Story("changing", events)


def _simple(kinds: list[str], c: Clock, start: float, run: str, job: str, **kw: Any) -> list[dict[str, Any]]:
    return [run_event(k, c.at(start + i), run, "states", job, **kw) for i, k in enumerate(kinds)]


def states(c: Clock) -> Story:
    """Every run state and the event orders with a Marquez rule: RUNNING without START, a late RUNNING after
    COMPLETE, OTHER first, ABORT after a schema change, FAIL with an error, a stream, a nominal time, a
    non-UUID runId, a job with more than 10 runs, and job facets that a later run no longer sends."""
    ds = "s3://states"
    out = [dataset(ds, "out")]
    events = _simple(["START", "RUNNING"], c, 60, run_id("states", "running"), "running_only")
    events += _simple(["START", "ABORT"], c, 62, run_id("states", "aborted"), "aborted", outputs=out)
    events += _simple(["START"], c, 64, run_id("states", "failed"), "failed")
    events += _simple(["FAIL"], c, 65, run_id("states", "failed"), "failed",
                      run_facets={"errorMessage": error_message("division by zero")})
    events += _simple(["START", "COMPLETE", "RUNNING"], c, 66, run_id("states", "late"), "late_running")
    events += _simple(["RUNNING", "COMPLETE"], c, 70, run_id("states", "running-first"), "running_first")
    events += _simple(["OTHER", "START", "COMPLETE"], c, 72, run_id("states", "other"), "other_first")
    schemas = [[("a", "int"), ("b", "string")], [("a", "int"), ("b", "string"), ("c", "double")]]
    for n, (kinds, cols) in enumerate(((["START", "COMPLETE"], schemas[0]), (["START", "ABORT"], schemas[1]))):
        events += _simple(kinds, c, 75 + 3 * n, run_id("states", "abort-schema", n), "abort_schema",
                          outputs=[dataset(ds, "versioned", schema=schema(*cols))])
    events += _simple(["START"], c, 82, run_id("states", "stream"), "stream",
                      job_facets={"jobType": job_type("STREAMING", "FLINK", "STREAMING")},
                      inputs=[dataset("kafka://broker.internal:9092", "clicks")], outputs=[dataset(ds, "sessions")])
    events += _simple(["START", "COMPLETE"], c, 84, run_id("states", "nominal"), "nominal",
                      run_facets={"nominalTime": nominal(c.at(0), c.at(60))})
    events += _simple(["START", "COMPLETE"], c, 86, "run-42-is-not-a-uuid", "non_uuid_run")
    for n in range(12):
        events += _simple(["START", "FAIL" if n % 4 == 3 else "COMPLETE"], c, 90 + 2 * n, run_id("states", "many", n),
                          "many_runs", inputs=[dataset(ds, "many_in")], outputs=[dataset(ds, f"many_out_{n % 3}")])
    documented = {"documentation": facet("DocumentationJobFacet", description="Builds the thing."),
                  "sourceCodeLocation": facet("SourceCodeLocationJobFacet", type="git",
                                              url="https://github.com/acme/jobs/blob/main/facets.py")}
    events += _simple(["START", "COMPLETE"], c, 120, run_id("states", "facets", 0), "job_facets", job_facets=documented)
    events += _simple(["START", "COMPLETE"], c, 123, run_id("states", "facets", 1), "job_facets",
                      job_facets={"ownership": facet("OwnershipJobFacet", owners=[{"name": "team:data"}])})
    return Story("states", events)


def graph(c: Clock) -> Story:
    """A chain of 8 jobs where each reads the dataset before it and the one two steps back, with a branch:
    lineage at depth 0, 1, 2, 3, 5 and 20 from either end and the middle differs at every step."""
    ns, lake = "graph", "s3://graph"
    events = []
    for i in range(8):
        ins = [dataset(lake, f"d{i}")] + ([dataset(lake, f"d{i - 2}")] if i >= 2 else [])
        events.append(run_event("COMPLETE", c.at(150 + i), run_id("graph", i), ns, f"step{i}", inputs=ins,
                                outputs=[dataset(lake, f"d{i + 1}")]))
    events.append(run_event("COMPLETE", c.at(160), run_id("graph", "branch"), ns, "branch",
                            inputs=[dataset(lake, "d3")], outputs=[dataset(lake, "side")]))
    return Story("graph", events)


def static(c: Clock) -> Story:
    """A JobEvent (design-time job with its datasets) and a DatasetEvent (a dataset with a schema, no job)."""
    job = {"eventTime": c.at(170), "producer": PRODUCER, "schemaURL": JOB_EVENT,
           "job": {"namespace": "static", "name": "designed", "facets": {"jobType": job_type("QUERY", "DBT")}},
           "inputs": [dataset("s3://static", "designed_in")], "outputs": [dataset("s3://static", "designed_out")]}
    ds = {"eventTime": c.at(171), "producer": PRODUCER, "schemaURL": DATASET_EVENT,
          "dataset": dataset("s3://static", "described", schema=schema(("k", "string"), ("v", "double")),
                             documentation=facet("DocumentationDatasetFacet", description="Described alone."))}
    return Story("static", [job, ds])


def sources(c: Clock) -> Story:
    """The ``default`` source (of every dataset without a ``dataSource`` facet, in most stories) first named by a
    DatasetEvent older than every other event, sent before them: a source's creation time is the first event
    naming it that a server ingests, which with stories posted at once would be whichever story came first."""
    ds = {"eventTime": c.at(-30), "producer": PRODUCER, "schemaURL": DATASET_EVENT,
          "dataset": dataset("s3://sources", "first_without_a_source")}
    return Story("sources", [ds], first=True)


def synthetic(c: Clock) -> list[Story]:
    stories = (spark, parents, changing_outputs, states, graph, static)
    return [sources(c), *(story(c.shifted(i + 1)) for i, story in enumerate(stories))]
