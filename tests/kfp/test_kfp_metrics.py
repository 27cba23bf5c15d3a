"""A KFP component's ``Output[Metrics]`` entries are its run's metrics (lineage_kfp.outputs): recorded with the run
under kfp.local, a hit reports its source run's, and ``lineage runs --metrics``, ``lineage compare`` and the read
API of a real ``lineage serve`` (from the core venv, as a server runs from its own image) show them. A Metrics
entry that is not a finite number fails the task with a MetricError naming the output."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lineage_core import MetricError
from lineage_core.metrics import run_metrics
from lineage_core.runtime import default_store

from ..services.lineage_server import Server

ROOT = Path(__file__).resolve().parents[2]


def lineage(*args: str, **env: str) -> str:
    p = subprocess.run([sys.executable, "-m", "lineage_core.cli", *args], capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=120)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return p.stdout


def test_a_metrics_output_is_the_runs_metrics_everywhere(kfp_local: Path) -> None:
    from kfp_components.pipelines.finetune_pipeline import finetune_pipeline

    first = finetune_pipeline()
    finetune_pipeline()  # all hits
    store = default_store()
    hit, miss = store.runs(job="finetune.train")
    assert (miss["status"], hit["status"], hit["source_run_id"]) == ("COMPLETED", "CACHED", miss["id"])
    expected = {"mse": first.output, "epochs": 200.0}  # what the function logged on its Output[Metrics]
    assert miss["context"]["metrics"] == expected
    assert run_metrics(store, hit) == expected
    assert run_metrics(store, store.runs(job="finetune.make_dataset", limit=1)[0]) == {}  # a Dataset is no metrics

    table = lineage("runs", "--job", "finetune.train", "--metrics")
    header = next(line for line in table.splitlines() if "mse" in line)
    assert "epochs" in header
    for run in (miss, hit):
        (line,) = [ln for ln in table.splitlines() if run["id"] in ln]
        assert [c.strip() for c in line.split("│")][-3:-1] == ["200", f"{first.output:.6g}"], line
    compared = json.loads(lineage("compare", miss["id"], hit["id"], "--json"))
    assert [r["metrics"] for r in compared["runs"]] == [expected, expected]
    assert compared["differs"]["metrics"] == [] and compared["differs"]["parameters"] == []

    # the read API, from a server on the same store
    server = Server({}, python=str(ROOT / ".venv" / "bin" / "python"))
    try:
        status, rows = server.request("GET", "/api/v1/runs?job=finetune.train")
        assert status == 200 and [r["metrics"] for r in rows] == [expected, expected]
        status, one = server.request("GET", f"/api/v1/runs/{hit['id']}")
        assert status == 200 and one["metrics"] == expected
        url = f"http://127.0.0.1:{server.port}"
        via_server = json.loads(lineage("compare", "--job", "finetune.train", "--json", LINEAGE_STORE_URL=url))
        assert via_server == json.loads(lineage("compare", "--job", "finetune.train", "--json"))
        assert [r["metrics"] for r in via_server["runs"]] == [expected, expected]
    finally:
        server.stop()


def _outputs_step(tmp_path: Path, value: Any, **options: Any) -> Any:
    from kfp import dsl

    from lineage_kfp.outputs import OutputsStep

    def evaluate(metrics: dsl.Output[dsl.Metrics], n: int) -> Any:
        metrics.metadata["score"] = value  # set by hand: KFP's own log_metric would refuse a non-number
        return {"n": n} if options.get("metrics") else n

    artifact = dsl.Metrics(name="metrics", uri=str(tmp_path / "metrics"), metadata={})
    return OutputsStep(evaluate, {"metrics": artifact}, name="kfp.evaluate", **options), artifact


@pytest.mark.parametrize(("value", "words"), [("high", "is a str"), (math.nan, "is nan"), ([1.0], "is a list")])
def test_a_metrics_entry_that_is_not_a_finite_number_fails_the_task(tmp_path: Path, value: Any, words: str) -> None:
    step, artifact = _outputs_step(tmp_path, value)
    with pytest.raises(MetricError, match=f"kfp.evaluate: output 'metrics' \\(Metrics\\): metric 'score' {words}"):
        step(n=1, metrics=artifact)
    (run,) = default_store().runs(job="kfp.evaluate")
    assert run["status"] == "FAILED" and "MetricError" in run["error"]


def test_a_metrics_entry_in_process_is_recorded(tmp_path: Path) -> None:
    step, artifact = _outputs_step(tmp_path, 0.5)
    step(n=2, metrics=artifact)
    (run,) = default_store().runs(job="kfp.evaluate")
    assert run["status"] == "COMPLETED" and run["context"]["metrics"] == {"score": 0.5}


def test_a_returned_metrics_dict_beside_outputs_is_recorded(tmp_path: Path) -> None:
    step, artifact = _outputs_step(tmp_path, 0.25, metrics=True)
    step(n=3, metrics=artifact)
    (run,) = default_store().runs(job="kfp.evaluate")
    assert run["status"] == "COMPLETED" and run["context"]["metrics"] == {"score": 0.25, "n": 3.0}
