"""OpenLineage for KFP (which has none of its own): every cached task of a local pipeline run sends START and
COMPLETE through the standard client configuration (here the file transport), with the pipeline run as
parent, the KFP artifacts it read and wrote as datasets and our cache and environment facets. The events
validate against the official spec and, ingested, form one graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lineage_core.openlineage.graph import NodeId, lineage
from lineage_core.openlineage.ingest import ingest
from lineage_core.runtime import default_store

from ..services.olspec import check_event, spec_registry

STEPS = ("prepare", "train", "evaluate")


@pytest.fixture
def events_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "openlineage.jsonl"
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(path))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    return path


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_pipeline_run_events_validate_and_connect(kfp_local: Path, events_file: Path) -> None:
    from kfp_components.pipelines.train_pipeline import train_pipeline

    train_pipeline()
    first = read(events_file)
    assert sorted((e["job"]["name"], e["eventType"]) for e in first) == sorted(
        (f"sklearn.{s}", t) for s in STEPS for t in ("START", "COMPLETE"))
    registry = spec_registry()
    for event in first:
        check_event(registry, event)

    parents = {(e["run"]["facets"]["parent"]["run"]["runId"], e["run"]["facets"]["parent"]["job"]["name"])
               for e in first}
    assert len(parents) == 1  # every task names the same pipeline run
    ((parent_run, parent_job),) = parents
    assert parent_job == "train-sklearn"  # the pipeline, not this run's name: Marquez shows one job, many runs
    assert all(e["job"]["facets"]["jobType"]["integration"] == "KFP" for e in first)
    assert all("lineage_environment" in e["run"]["facets"] for e in first if e["eventType"] == "START")
    assert all(e["run"]["facets"]["lineage_cache"]["hit"] is False for e in first if e["eventType"] == "COMPLETE")

    completes = {e["job"]["name"]: e for e in first if e["eventType"] == "COMPLETE"}
    (prepare_out,) = [d for d in completes["sklearn.prepare"]["outputs"] if d["name"].endswith("/prepare/result")]
    assert prepare_out["namespace"] == "file"  # kfp.local's pipeline root; gs://, s3://… on a cluster
    for downstream in ("sklearn.train", "sklearn.evaluate"):  # the KFP artifact links the tasks
        assert prepare_out["name"] in {d["name"] for d in completes[downstream]["inputs"]}

    def stored(job: str, side: str) -> set[str]:  # the values in our store, handed on by reference
        return {d["name"] for d in completes[job][side] if "/blobs/" in d["name"]}

    (frame,), (model,) = stored("sklearn.prepare", "outputs"), stored("sklearn.train", "outputs")
    assert stored("sklearn.train", "inputs") == {frame}  # each task read what the one before it wrote
    assert stored("sklearn.evaluate", "inputs") == {frame, model}

    store = default_store()
    ingest(store, first)
    # as Marquez names a child job: <parent>.<child> (the events keep the task's own name)
    graph = lineage(store, NodeId("job", "default", "train-sklearn.sklearn.prepare"), depth=10)
    jobs = {n["id"] for n in graph["graph"] if n["type"] == "JOB"}
    assert jobs == {f"job:default:train-sklearn.sklearn.{s}" for s in STEPS}  # one connected graph
    edges = {(e["origin"], e["destination"]) for n in graph["graph"] for e in n["outEdges"]}
    train, evaluate = "job:default:train-sklearn.sklearn.train", "job:default:train-sklearn.sklearn.evaluate"
    assert {(f"dataset:file:{frame}", train), (train, f"dataset:file:{model}"),
            (f"dataset:file:{model}", evaluate)} <= edges

    train_pipeline()  # all hits: still a START/COMPLETE per task, under the new pipeline run
    second = read(events_file)[len(first):]
    assert len(second) == 6
    for event in second:
        check_event(registry, event)
        assert event["run"]["facets"]["parent"]["run"]["runId"] != parent_run
    for event in (e for e in second if e["eventType"] == "COMPLETE"):
        assert event["run"]["facets"]["lineage_cache"]["hit"] is True
        assert any(d["name"].endswith("/result") for d in event["outputs"])  # the outputs a hit wrote


FAILING_STEPS = '''
from lineage_kfp import cached_component


def check_rows(rows: int) -> int:
    if rows < 10:
        raise ValueError(f"only {rows} rows: refusing to train on them")
    return rows


check = cached_component(name="quality.check_rows", base_image="python:3.11")(check_rows)
'''

FAILING_PIPELINE = '''
from kfp import dsl

from failing_steps import check


@dsl.pipeline(name="quality")
def quality(rows: int = 3) -> int:
    return check(rows=rows).output
'''


def test_a_failing_task_sends_fail_with_the_error_and_caches_nothing(
    kfp_local: Path, events_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import sys

    src = tmp_path / "steps"
    src.mkdir()
    (src / "failing_steps.py").write_text(FAILING_STEPS)
    (src / "failing_pipeline.py").write_text(FAILING_PIPELINE)
    monkeypatch.syspath_prepend(str(src))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(src), os.environ["PYTHONPATH"]]))
    sys.modules.pop("failing_steps", None)
    sys.modules.pop("failing_pipeline", None)
    from failing_pipeline import quality  # type: ignore[import-not-found]

    with pytest.raises(RuntimeError):
        quality()
    events = read(events_file)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    registry = spec_registry()
    for event in events:
        check_event(registry, event)
        assert event["job"]["name"] == "quality.check_rows"
        assert event["run"]["facets"]["parent"]["job"]["name"] == "quality"
    error = events[1]["run"]["facets"]["errorMessage"]
    assert "only 3 rows" in error["message"] and error["programmingLanguage"].lower() == "python"
    (run,) = default_store().runs(job="quality.check_rows")
    assert run["status"] == "FAILED" and default_store().lookup(run["cache_key"]) is None
