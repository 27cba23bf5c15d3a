"""@cached_component on the real KFP SDK: the train pipeline (the KFP twin of train_sklearn) runs twice under
kfp.local and the second run is all hits from OUR cache (KFP's cache off); the component output is a
reference; the compiled YAML is what a cluster would run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lineage_core.refs import MARKER
from lineage_core.runtime import default_store

STEPS = ("prepare", "train", "evaluate")


def statuses() -> dict[str, list[str]]:
    store = default_store()
    return {s: [r["status"] for r in reversed(store.runs(job=f"sklearn.{s}"))] for s in STEPS}


def test_train_pipeline_second_run_is_all_hits(kfp_local: Path) -> None:
    from kfp_components.pipelines.train_pipeline import train_pipeline

    train_pipeline()
    assert statuses() == {s: ["COMPLETED"] for s in STEPS}
    train_pipeline()
    assert statuses() == {s: ["COMPLETED", "CACHED"] for s in STEPS}  # no function ran
    refs = [json.loads(p.read_text()) for p in kfp_local.rglob("result") if p.is_file()]
    assert len(refs) == 6 and all(r[MARKER] == 1 and r["hash"].startswith("blake3:") for r in refs)
    runs = default_store().runs(job="sklearn.train")
    assert {r["context"]["orchestrator"] for r in runs} == {"kfp"}
    assert all(r["context"]["pipeline"].startswith("train-sklearn") for r in runs)  # the run's name

    train_pipeline(c=0.5)  # a parameter change re-runs train and what is downstream, not prepare
    assert statuses() == {"prepare": ["COMPLETED", "CACHED", "CACHED"], "train": ["COMPLETED", "CACHED", "COMPLETED"],
                          "evaluate": ["COMPLETED", "CACHED", "COMPLETED"]}
    (latest,) = default_store().runs(job="sklearn.train", limit=1)
    assert any("parameter 'c' changed: 1.0 → 0.5" in r for r in latest["reasons"]), latest["reasons"]


def test_compiled_pipeline_declares_references_and_kfp_cache_off(tmp_path: Path) -> None:
    from kfp import compiler

    from kfp_components.pipelines.train_pipeline import train_pipeline

    compiler.Compiler().compile(train_pipeline, str(tmp_path / "p.yaml"))
    (spec, *_) = yaml.safe_load_all((tmp_path / "p.yaml").read_text())
    train = spec["components"]["comp-train"]
    assert set(train["inputDefinitions"]["parameters"]) == {"c", "lineage_pipeline", "lineage_pipeline_run",
                                                             "lineage_task"}
    assert set(train["inputDefinitions"]["artifacts"]) == {"frame"}
    assert set(train["outputDefinitions"]["artifacts"]) == {"result"}
    tasks = spec["root"]["dag"]["tasks"]
    assert all(t["cachingOptions"] == {} or not t["cachingOptions"].get("enableCache") for t in tasks.values())
    command = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["command"][-1]
    assert "lineage_kfp.runtime" in command and "sklearn.train" in command


def test_the_hit_line_says_when_the_task_waited_for_a_concurrent_computation(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The task's hit line is the core's hit reason: a task that waited for another pod computing the same key
    says so, as the core's own line did before the runtime took the line over."""
    from lineage_core.cache import Outcome
    from lineage_core.runs import Reason
    from lineage_kfp.runtime import _report

    key = "blake3:" + "ab" * 32
    for concurrent in (True, False):
        _report(Outcome(True, "run-2", key, [Reason.hit(key, "run-1", concurrent)], "run-1", "steps.score"), "score")
    assert capsys.readouterr().out.splitlines() == [
        "cache hit: key blake3:abababab… from run run-1 (computed concurrently: this call waited for it); "
        "score did not run",
        "cache hit: key blake3:abababab… from run run-1; score did not run"]
