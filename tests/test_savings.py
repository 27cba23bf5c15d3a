"""What the cache saved (``lineage stats``, ``GET /api/v1/stats/savings``, ``lineage_saved_*`` on ``/metrics``), on
SQLite and PostgreSQL, for every kind of hit in one store: the demo pipeline (examples/demo_pipeline.py, its
cached functions), LLM calls through the openai SDK and CachingTransport against the loopback server (tokens
and cost), and a GPU command run under ``lineage exec`` with a ContainerTask's resource class (the pod
operator's key path; tests/airflow/test_savings.py runs the real pod on the test control plane).

The expected figures are computed here from the runs table, independently: every CACHED run's producing run's
duration, its GPUs from its key manifest, its LLM usage and cost from its context. The CLI prints the same from
the database and from a real ``lineage serve``; a namespace-limited token sees its namespaces only; bad
parameters are Marquez's 400.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lineage_core.commands import CommandSpec, CommandStep
from lineage_core.container import ContainerTask
from lineage_core.runtime import default_store
from lineage_core.store import Store
from lineage_core.store.savings import savings

from .services.lineage_server import Server
from .services.openai_stub import OpenAIStub, sdk_client
from .test_commands import exec_in_pod

pytestmark = pytest.mark.slow  # a lineage server per backend, the demo's scikit-learn steps

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo_pipeline.py"
READER, LIMITED = "reader-t0ken", "demo-t0ken"
TOKEN_FILE = f"reader:{READER}:read\ndemo-team:{LIMITED}:read:demo\n"
GPU = ContainerTask(gpus=2, gpu_type="NVIDIA-A100-SXM4-80GB")
TRAIN = "import shutil, sys, time; time.sleep(0.3); shutil.copytree(sys.argv[1], sys.argv[2], dirs_exist_ok=True)"
QUESTION = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is 6 * 7?"}], "temperature": 0}


@dataclass
class Expected:
    hits: int
    runs: int
    seconds: float
    gpu_hours: float
    tokens: int
    cost: float
    per_namespace: dict[str, float]


def expected_from_runs(store: Store) -> Expected:
    """The savings as the runs table holds them, computed without lineage_core.store.savings."""
    rows = store.runs(limit=100_000)
    hits = [r for r in rows if r["status"] == "CACHED"]
    seconds = gpu_hours = cost = 0.0
    tokens = 0
    per_namespace: dict[str, float] = {}
    for hit in hits:
        source = store.get_run(hit["source_run_id"])
        duration = source["ended_at"] - source["started_at"]
        seconds += duration
        per_namespace[hit["namespace"]] = per_namespace.get(hit["namespace"], 0.0) + duration
        resources = (store.manifest(hit["cache_key"]) or {}).get("resources") or {}
        gpu_hours += resources.get("gpus", 0) * duration / 3600
        llm = (source["context"] or {}).get("llm")
        if llm:
            tokens += llm["usage"]["total"]
            cost += llm["cost_usd"]
    return Expected(len(hits), len(rows), seconds, gpu_hours, tokens, cost, per_namespace)


@pytest.fixture(scope="module")
def openai_server() -> Iterator[OpenAIStub]:
    stub = OpenAIStub().start()
    yield stub
    stub.stop()


def run_demo() -> None:
    """examples/demo_pipeline.py's three runs (computes, hits, a parameter change) and a fourth that hits."""
    spec = importlib.util.spec_from_file_location("demo_pipeline", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_pipeline"] = module
    try:
        spec.loader.exec_module(module)
        for c in (1.0, 1.0, 0.01, 1.0):
            module.pipeline(c)
    finally:
        del sys.modules["demo_pipeline"]


def run_gpu_command(tmp_path: Path) -> None:
    """A GPU training command: a miss run under ``lineage exec`` (which registers it), then a hit."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "rows.csv").write_text("x,y\n1,2\n")
    cmd = CommandSpec(name="finetune.train", namespace="gpu", command=(sys.executable, "-c", TRAIN,
                      str(tmp_path / "in"), str(tmp_path / "out")), inputs=(str(tmp_path / "in"),),
                      outputs=(str(tmp_path / "out"),), resources=GPU.resource_class())
    store = default_store()
    step = CommandStep(cmd, store)
    verdict = step.check()
    assert not verdict.hit
    plan = step.begin(verdict, {"orchestrator": "python"})
    reach = {"LINEAGE_STORE_URL": store.engine.url.render_as_string(hide_password=False),
             "LINEAGE_ARTIFACTS_URL": store.artifacts.url}
    code, result = exec_in_pod(plan, cmd.command, tmp_path, **reach)
    assert code == 0 and result["status"] == "COMPLETED", result
    assert CommandStep(cmd, store).check().hit


def lineage(url: str, token: str | None, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "LINEAGE_STORE_TOKEN"}
    env.update({"LINEAGE_STORE_URL": url, **({"LINEAGE_STORE_TOKEN": token} if token else {})})
    p = subprocess.run([sys.executable, "-m", "lineage_core.cli", "stats", *args], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if "--json" in args else {"text": p.stdout}


def without_until(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("until", "since")}


def scrape(server: Server) -> dict[tuple[str, str], float]:
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}/metrics",
                                 headers={"Authorization": f"Bearer {READER}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
    return {(s.name, s.labels.get("namespace", "")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_hit_counts_what_its_producing_run_cost(backend: str, tmp_path: Path,
                                                     openai_server: OpenAIStub) -> None:
    run_demo()
    openai_server.reset()
    for _ in range(3):  # one call, two hits
        sdk_client(openai_server).chat.completions.create(**QUESTION)
    assert openai_server.count() == 1
    run_gpu_command(tmp_path)

    store = default_store()
    want = expected_from_runs(store)
    assert want.hits == 3 * 4 + 2 + 1 - 2 and want.gpu_hours > 0 and want.tokens > 0 and want.cost > 0
    report = savings(store).to_dict()
    totals = report["totals"]
    assert (totals["hits"], totals["lookups"]) == (want.hits, want.runs)
    assert totals["compute_seconds_saved"] == pytest.approx(want.seconds, abs=1e-6)
    assert totals["gpu_hours_saved"] == pytest.approx(want.gpu_hours, abs=1e-9)
    gpu_hit = next(r for r in store.runs(job="finetune.train") if r["status"] == "CACHED")
    source = store.get_run(gpu_hit["source_run_id"])
    assert totals["gpu_hours_saved"] == pytest.approx(  # the report rounds to 9 places
        2 * (source["ended_at"] - source["started_at"]) / 3600, abs=1e-9)
    assert report["gpu_hours_by_type"] == {"NVIDIA-A100-SXM4-80GB": pytest.approx(want.gpu_hours, abs=1e-9)}
    assert totals["tokens_saved"] == want.tokens and totals["cost_usd_saved"] == pytest.approx(want.cost)
    assert totals["unknown_sources"] == 0 and totals["hit_rate"] == pytest.approx(want.hits / want.runs)
    by_ns = {g["group"]: g for g in savings(store, by="namespace").to_dict()["groups"]}
    assert {ns: g["compute_seconds_saved"] for ns, g in by_ns.items() if g["hits"]} == pytest.approx(
        want.per_namespace)
    by_model = {g["group"]: g for g in savings(store, by="model").to_dict()["groups"]}
    assert by_model["gpt-4o-mini"]["hits"] == 2 and by_model["gpt-4o-mini"]["tokens_saved"] == want.tokens
    assert by_model["-"]["hits"] == want.hits - 2
    assert sum(d["hits"] for d in report["days"]) == want.hits
    assert savings(store, since=store.runs(limit=1)[0]["started_at"] + 1).to_dict()["totals"]["hits"] == 0

    (tmp_path / "tokens").write_text(TOKEN_FILE)
    server = Server({"LINEAGE_STORE_URL": backend, "LINEAGE_SERVER_TOKEN_FILE": str(tmp_path / "tokens")},
                    host="0.0.0.0")
    try:
        url = f"http://127.0.0.1:{server.port}"
        for args in (["--json"], ["--json", "--by", "namespace"], ["--json", "--by", "model", "--since", "7d"]):
            here = lineage(backend, None, *args)
            there = lineage(url, READER, *args)
            assert without_until(there) == without_until(here), args
        assert lineage(backend, None, "--json")["totals"] == report["totals"]
        text = lineage(url, READER)["text"]
        assert "GPU-hours on NVIDIA-A100-SXM4-80GB" in text and "per day" in text and "█" in text
        limited = lineage(url, LIMITED, "--json")  # a token limited to namespace "demo"
        assert {g["namespace"] for g in limited["groups"]} == {"demo"}
        assert limited["totals"]["compute_seconds_saved"] == pytest.approx(want.per_namespace["demo"], abs=1e-6)
        for query, words in (("by=nope", "group by one of job, namespace, model"),
                             ("since=yesterday", "give a duration (7d, 12h, 3600) or an ISO 8601 time")):
            status, body = server.request("GET", f"/api/v1/stats/savings?{query}", None,
                                          {"Authorization": f"Bearer {READER}"})
            assert status == 400 and body["code"] == 400 and words in body["message"], body
        assert server.request("GET", "/api/v1/stats/savings")[0] == 401
        samples = scrape(server)
        for ns, seconds in want.per_namespace.items():
            assert samples[("lineage_saved_compute_seconds_total", ns)] == pytest.approx(seconds, abs=1e-6)
        assert samples[("lineage_saved_gpu_hours_total", "gpu")] == pytest.approx(want.gpu_hours, abs=1e-9)
        assert samples[("lineage_saved_tokens_total", "default")] == want.tokens
        assert sum(v for (name, _), v in samples.items() if name == "lineage_saved_hits_total") == want.hits
    finally:
        server.stop()
