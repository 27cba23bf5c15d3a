"""``lineage stats`` over the example DAGs' runs on real Airflow: gpu_finetune's training pod on the test
Kubernetes control plane (one GPU of type NVIDIA-A100-SXM4-80GB, the ContainerTask's resource class in its key)
and llm_eval's model calls against the loopback OpenAI-compatible server, each DAG run twice. What the command
prints is checked against the runs table, computed here independently: the compute seconds saved are the sum of
the producing runs' durations of every hit, the GPU-hours the training pod's duration times its one GPU, the
tokens those of the producing LLM calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from lineage_core.runtime import default_store

from ..services.openai_stub import OpenAIStub
from .test_pod_operator import cluster  # noqa: F401 - the fixture: the DAG's pods in a fresh namespace

GPU_TYPE = "NVIDIA-A100-SXM4-80GB"


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    stub = OpenAIStub().start()
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-stats-test-key")
    yield stub
    stub.stop()


def stats(*args: str) -> dict[str, Any]:
    p = subprocess.run([sys.executable, "-m", "lineage_core.cli", "stats", "--json", *args], capture_output=True,
                       text=True, env=dict(os.environ), timeout=120)
    assert p.returncode == 0, p.stderr
    return dict(json.loads(p.stdout))


def test_stats_count_what_the_example_dags_hits_saved(cluster: str, run_dag: Any,  # noqa: F811 - the fixture
                                                     endpoint: OpenAIStub) -> None:
    for _ in range(2):
        run_dag("gpu_finetune")
        run_dag("llm_eval")
    store = default_store()
    rows = store.runs(limit=100_000)
    hits = [r for r in rows if r["status"] == "CACHED"]
    sources = {h["id"]: store.get_run(h["source_run_id"]) for h in hits}
    seconds = sum(s["ended_at"] - s["started_at"] for s in sources.values())
    (train_hit,) = [h for h in hits if h["job"] == "gpu_finetune.train"]
    train = sources[train_hit["id"]]
    gpu_hours = (train["ended_at"] - train["started_at"]) / 3600  # one GPU
    tokens = sum(s["context"]["llm"]["usage"]["total"] for s in sources.values() if "llm" in (s["context"] or {}))

    report = stats()
    totals = report["totals"]
    assert (totals["hits"], totals["lookups"]) == (len(hits), len(rows))
    assert totals["compute_seconds_saved"] == pytest.approx(seconds, abs=1e-6) and seconds > 0
    assert totals["gpu_hours_saved"] == pytest.approx(gpu_hours, abs=1e-9) and gpu_hours > 0
    assert report["gpu_hours_by_type"] == {GPU_TYPE: pytest.approx(gpu_hours, abs=1e-9)}
    assert totals["tokens_saved"] == tokens and tokens > 0
    jobs = {g["group"].split("/", 1)[1]: g for g in report["groups"]}
    assert jobs["gpu_finetune.train"]["gpu_hours_saved"] == pytest.approx(gpu_hours, abs=1e-9)
    assert jobs["gpu_finetune.train"]["hits"] == 1 and jobs["gpu_finetune.train"]["lookups"] == 2
    models = {g["group"]: g for g in stats("--by", "model")["groups"]}
    assert models["gpt-4o-mini"]["tokens_saved"] == tokens
