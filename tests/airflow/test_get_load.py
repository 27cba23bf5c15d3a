"""Getting a past run's result back out of runs produced by Airflow (dag.test()): a cached task's value (a DataFrame,
a pickled model only when allowed) by ``lineage_core.load`` and ``lineage get``, a hit's being its source run's, and a
CachedKubernetesPodOperator's pod outputs (a real pod on the session's cluster) listed and fetched by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lineage_core import load
from lineage_core.errors import MaterializerError
from lineage_core.runtime import default_store

from ..services.k8s import ControlPlane
from .test_pod_operator import cluster, train_runs

__all__ = ["cluster"]


def lineage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineage_core.cli", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=120)


def test_a_cached_tasks_value_comes_back(run_dag: Any, tmp_path: Path) -> None:
    run_dag("train_sklearn")
    run_dag("train_sklearn")  # all hits
    store = default_store()
    hit, miss = store.runs(job="sklearn.prepare")
    assert (hit["status"], hit["source_run_id"]) == ("CACHED", miss["id"])
    frame = load(hit["id"])
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0
    pd.testing.assert_frame_equal(frame, load(miss["id"]))
    p = lineage("get", hit["id"], "-o", str(tmp_path / "prepared.parquet"))
    assert p.returncode == 0, p.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "prepared.parquet"), frame)
    (train, *_) = store.runs(job="sklearn.train")  # a scikit-learn model: stored by pickle (the task opted in)
    with pytest.raises(MaterializerError, match=f"run {train['id']}: .*allow_pickle=True"):
        load(train["id"])
    model = load(train["id"], allow_pickle=True)
    assert hasattr(model, "predict")


def test_a_pods_outputs_come_back_by_name(cluster: str, k8s: ControlPlane, run_dag: Any,
                                          tmp_path: Path) -> None:
    run_dag("gpu_finetune")
    run_dag("gpu_finetune")  # the hit: no pod
    miss, hit = train_runs()
    assert hit["status"] == "CACHED"
    listing = json.loads(lineage("get", hit["id"], "--json").stdout)
    out = tmp_path / "models" / "finetune"
    assert listing["source_run_id"] == miss["id"] and listing["outputs"] == [
        {"name": "finetune", "uri": str(out), "hash": listing["outputs"][0]["hash"]}]
    fetched = load(hit["id"], output="finetune", destination=tmp_path / "fetched")
    assert json.loads((fetched / "metrics.json").read_text())["rows"] == 256
    p = lineage("get", miss["id"], "--output", "finetune", "-o", str(tmp_path / "again"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "again" / "metrics.json").read_bytes() == (out / "metrics.json").read_bytes()
