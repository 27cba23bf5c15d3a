"""The corpus's events from real producers: our own @cached runs (:mod:`.own_runs`, in a fresh process), the
Airflow provider's events (the goldens tests/airflow/expected_events/ keeps of a real ``dag.test()`` run, filled
back in where the golden normalised them away: ids, times, hashes, facet bodies), and the OpenLineage spec's
own examples (its full event, and every facet example placed on the entity its schema names)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .events import Clock, Story, dataset, facet, job_type, nominal, run_event, run_id

ROOT = Path(__file__).resolve().parents[2]
GOLDENS = ROOT / "tests" / "airflow" / "expected_events"
SPEC_TESTS = ROOT.parent / "shared" / "openlineage-spec" / "spec" / "tests"
AIRFLOW = "https://github.com/apache/airflow/tree/providers-openlineage/2.10.0"


def own_runs(home: Path) -> Story:
    """Our chain's events, built from the store after the runs (real times: now)."""
    env = {**os.environ, "LINEAGE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    for var in ("LINEAGE_STORE_URL", "LINEAGE_ARTIFACTS_URL", "LINEAGE_NAMESPACE", "OPENLINEAGE_URL"):
        env.pop(var, None)
    out = subprocess.run([sys.executable, "-m", "tests.conformance.own_runs"], env=env, capture_output=True,
                         text=True, timeout=300, cwd=home.parent)
    if out.returncode != 0:
        raise RuntimeError(f"the @cached chain failed:\n{out.stderr[-3000:]}")
    return Story("own", json.loads(out.stdout), last=True)


def _fill(text: str, job: str) -> str:
    digest = run_id("blob", job).replace("-", "")
    return text.replace("<tmp>", "/tmp/airflow-golden").replace("<hash>", (digest * 2)[:64])


def _airflow_event(golden: dict[str, Any], run: str, dag_run: str, when: str, nominal_at: str) -> dict[str, Any]:
    job = golden["job"]["name"]
    bodies = {"jobType": job_type("TASK", "AIRFLOW"), "ownership": facet("OwnershipJobFacet", owners=[
        {"name": "airflow"}]), "tags": facet("TagsJobFacet", tags=[{"key": "ml", "value": "ml", "source": "AIRFLOW"}])}
    g_run = golden["run"]
    facets: dict[str, Any] = {"nominalTime": nominal(nominal_at), "processing_engine": facet(
        "ProcessingEngineRunFacet", "1-1-1", version="3.3.2", name="Airflow", openlineageAdapterVersion="2.10.0")}
    if "parent" in g_run:
        p = g_run["parent"]["job"]
        facets["parent"] = facet("ParentRunFacet", "1-1-0", run={"runId": dag_run}, job=p,
                                 root={"run": {"runId": dag_run}, "job": p})
    if "lineage_cache" in g_run:
        cache = g_run["lineage_cache"]
        facets["lineage_cache"] = {**facet("LineageCacheRunFacet"), **cache,
                                   "components": {c: f"blake3:{run_id(c, job)[:8]}" for c in cache["components"]},
                                   "key": f"blake3:{run_id('key', job)}",
                                   "sourceRunId": run_id(job, "first") if cache.get("sourceRunId") else None}
    if "lineage_environment" in g_run:
        facets["lineage_environment"] = {**facet("LineageEnvironmentRunFacet"), "python": "3.11.7",
                                         "platform": "linux", "packagesHash": "blake3:00", "git": {}, "gpu": {}}
    if "errorMessage" in g_run:
        facets["errorMessage"] = facet("ErrorMessageRunFacet", message=g_run["errorMessage"],
                                       programmingLanguage="python")

    def sets(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [dataset(d["namespace"], _fill(d["name"], job), **{
            f: facet("DatasetVersionDatasetFacet", datasetVersion=f"blake3:{run_id(job, d['name'])}")
            for f in d["facets"] if f == "version"}) for d in items]

    return run_event(golden["eventType"], when, run, golden["job"]["namespace"], job, producer=AIRFLOW,
                     inputs=sets(golden["inputs"]), outputs=sets(golden["outputs"]), run_facets=facets,
                     job_facets={k: v for k, v in bodies.items() if k in golden["job"]["facets"]})


def airflow(c: Clock) -> Story:
    """The train_sklearn DAG's first and second run (tasks in the order the DAG runs them), each inside its
    DAG run's own START/COMPLETE, as the provider sends them."""
    order = ["prepare", "train", "evaluate"]
    events: list[dict[str, Any]] = []
    for n, name in enumerate(("first_run", "second_run")):
        golden = json.loads((GOLDENS / f"train_sklearn.{name}.json").read_text())
        golden.sort(key=lambda e: (order.index(e["job"]["name"].rsplit(".", 1)[-1]) if "." in e["job"]["name"]
                                   else -1, e["eventType"] != "START"))
        t0, dag_run = 200 + 30 * n, run_id("airflow", name)
        dag = golden[0]["run"]["parent"]["job"]
        dag_facets = {"jobType": job_type("DAG", "AIRFLOW")}
        events.append(run_event("START", c.at(t0), dag_run, dag["namespace"], dag["name"], producer=AIRFLOW,
                                job_facets=dag_facets, run_facets={"nominalTime": nominal(c.at(t0))}))
        for i, g in enumerate(golden):
            first = run_id(g["job"]["name"], "first") if n == 0 else run_id(g["job"]["name"], name)
            events.append(_airflow_event(g, first, dag_run, c.at(t0 + 1 + i), c.at(t0)))
        events.append(run_event("COMPLETE", c.at(t0 + 20), dag_run, dag["namespace"], dag["name"], producer=AIRFLOW,
                                job_facets=dag_facets, run_facets={"nominalTime": nominal(c.at(t0))}))
    return Story("airflow", events)


_ENTITY = [("InputDatasetFacet", "inputFacets"), ("OutputDatasetFacet", "outputFacets"), ("DatasetFacet", "facets"),
           ("RunFacet", "run"), ("JobFacet", "job")]


def spec_examples(c: Clock) -> Story:
    """The spec's full example event (unchanged), then one run per example number: the k-th example of every
    facet on its entity (run, job, an input's or the output's facets)."""
    full = json.loads((SPEC_TESTS / "example_full_event.json").read_text())
    events = [full]
    examples: dict[int, dict[str, dict[str, Any]]] = {}
    for path in sorted(SPEC_TESTS.glob("*/*.json")):
        where = next(place for suffix, place in _ENTITY if path.parent.name.endswith(suffix))
        examples.setdefault(int(path.stem), {}).setdefault(where, {}).update(json.loads(path.read_text()))
    for k, by in sorted(examples.items()):
        r, t = run_id("spec", k), 250 + 3 * k
        # the input facets on an input of their own: one key (dataQualityMetrics) is both a dataset and an input
        # facet, and Marquez merges the two in no defined order
        inputs = [dataset("s3://spec-examples", f"input_{k}", **by.get("facets", {})),
                  {**dataset("s3://spec-examples", f"measured_input_{k}"), "inputFacets": by.get("inputFacets", {})}]
        outputs = [{**dataset("s3://spec-examples", f"output_{k}", **by.get("facets", {})),
                    "outputFacets": by.get("outputFacets", {})}]
        for i, kind in enumerate(("START", "COMPLETE")):
            events.append(run_event(kind, c.at(t + i), r, "spec-examples", f"example_{k}", inputs=inputs,
                                    outputs=outputs if kind == "COMPLETE" else [], run_facets=by.get("run"),
                                    job_facets=by.get("job")))
    return Story("spec", events)
