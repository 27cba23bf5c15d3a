"""The train_sklearn example DAG on real Airflow (dag.test()): XComs are artifact references, the second
run is all hits (no callable runs), a code change in one task re-runs only it and what is downstream,
and Airflow's OpenLineage provider sends our cache and environment facets, valid against the spec."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lineage_core.cache import default_store
from lineage_core.refs import MARKER

from ..services.olspec import check_event, spec_registry
from .conftest import ROOT, edited_dag, provider_events, wait_for, xcoms

TASKS = ("prepare", "train", "evaluate")


def statuses() -> dict[str, list[str]]:
    """Our runs per task, oldest first: COMPLETED = the callable ran, CACHED = it did not."""
    store = default_store()
    return {t: [r["status"] for r in reversed(store.runs(job=f"sklearn.{t}"))] for t in TASKS}


def test_train_sklearn_caches_every_task(run_dag: Any, capfd: pytest.CaptureFixture[str],
                                        caplog: pytest.LogCaptureFixture) -> None:
    first = run_dag("train_sklearn")
    assert statuses() == {t: ["COMPLETED"] for t in TASKS}
    refs = xcoms(first)
    assert set(refs) == set(TASKS)
    for task, ref in refs.items():  # small references, never the data
        assert ref[MARKER] == 1 and ref["hash"].startswith("blake3:") and len(str(ref)) < 600, task
    assert refs["train"]["materializer"].startswith("pickle")

    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="lineage_core"):  # the core's lines, were it to log them here
        second = run_dag("train_sklearn")
    assert statuses() == {t: ["COMPLETED", "CACHED"] for t in TASKS}  # no callable ran
    logged = capfd.readouterr()
    said = [line for line in [*(logged.out + logged.err).splitlines(), *caplog.messages] if "cache hit: key" in line]
    assert len(said) == len(TASKS), said  # once per task (the operator's line, naming the run that produced it)
    assert all(f"(train_sklearn.{t}, " in line for t, line in zip(TASKS, said, strict=True)), said
    assert {t: r["hash"] for t, r in xcoms(second).items()} == {t: r["hash"] for t, r in refs.items()}

    registry = spec_registry()
    complete = wait_for(lambda: [e for e in provider_events(second.run_id, "train_sklearn.train")
                                 if e["eventType"] == "COMPLETE"], what="the provider's COMPLETE for train")
    facet = complete[0]["run"]["facets"]["lineage_cache"]
    assert facet["hit"] is True and facet["sourceRunId"] == refs["train"]["run_id"]
    assert "lineage_environment" in complete[0]["run"]["facets"]
    assert any(o["facets"]["version"]["datasetVersion"] == refs["train"]["hash"] for o in complete[0]["outputs"])
    for event in provider_events(second.run_id, "train_sklearn.train"):
        check_event(registry, event, known_facets_only=True)

    with edited_dag("sklearn_steps.py", "max_iter=500", "max_iter=800"):  # the steps' module, shared with KFP
        run_dag("train_sklearn")
    assert statuses() == {"prepare": ["COMPLETED", "CACHED", "CACHED"], "train": ["COMPLETED", "CACHED", "COMPLETED"],
                          "evaluate": ["COMPLETED", "CACHED", "COMPLETED"]}
    (latest_train, *_) = default_store().runs(job="sklearn.train")
    assert any("code changed" in r for r in latest_train["reasons"]), latest_train["reasons"]


KFP_RUN = """
import sys
from kfp import local
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[1])
from kfp_components.pipelines.train_pipeline import train_pipeline
train_pipeline()
"""


def test_kfp_pipeline_hits_what_the_dag_computed(run_dag: Any, tmp_path: Path) -> None:
    """Cross-orchestrator: the KFP twin of train_sklearn (same functions and step names, one store), run by
    the real KFP SDK in its own venv (.venv-kfp: other packages, the same key-relevant ones), computes nothing
    the DAG already computed."""
    run_dag("train_sklearn")
    python = ROOT / ".venv-kfp" / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "dags")])}
    done = subprocess.run([str(python), "-c", KFP_RUN, str(tmp_path / "pipeline-root")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    store = default_store()
    for task in TASKS:
        kfp_run, airflow_run = store.runs(job=f"sklearn.{task}")  # newest first
        assert airflow_run["context"]["orchestrator"] == "airflow" and airflow_run["status"] == "COMPLETED"
        assert kfp_run["context"]["orchestrator"] == "kfp" and kfp_run["status"] == "CACHED", task
        assert kfp_run["source_run_id"] == airflow_run["id"]


def test_the_hit_line_says_when_the_task_waited_for_a_concurrent_computation() -> None:
    """The operator's hit line is the core's hit reason (then the producing run): a task that waited for another
    worker computing the same key says so, as the core's own line did before the operator took the line over."""
    from lineage_airflow.operators import log_outcome
    from lineage_core.runs import Reason

    said: list[str] = []

    class TaskLog:  # what log_outcome is given: the task's logger (Airflow's handlers replace pytest's on import)
        def info(self, msg: str, *args: Any) -> None:
            said.append(msg % args)

    key = "blake3:" + "ab" * 32
    log_outcome(TaskLog(), True, key, None, [Reason.hit(key, "run-1", concurrent=True)])
    log_outcome(TaskLog(), True, key, None, [Reason.hit(key, "run-1")])
    assert said == [
        "cache hit: key blake3:abababab… from run run-1 (computed concurrently: this call waited for it) (?)",
        "cache hit: key blake3:abababab… from run run-1 (?)"]
