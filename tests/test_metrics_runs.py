"""Run metrics (lineage_core.metrics), on SQLite and PostgreSQL: a returned metrics dict (``metrics=True``) and
``log_metric`` inside a step are recorded with the run, a hit reports its source run's, the COMPLETE event carries
them as the ``lineage_metrics`` facet (valid against its schema), ``lineage runs --metrics`` and ``lineage compare``
show them (and ``--plot`` writes a PNG), from the database and through a real ``lineage serve`` (its read API and,
for a step whose store is the server, its store API). Bad names and values are a MetricError, said where given.
(tests/test_metrics.py is the server's Prometheus /metrics; the KFP Metrics output is in tests/kfp.)"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from jsonschema import ValidationError
from referencing import Registry

from lineage_core import LineageError, MetricError, explain, log_metric
from lineage_core.errors import RunNotFoundError
from lineage_core.metrics import run_metrics, with_run_metrics
from lineage_core.openlineage.records import run_events
from lineage_core.runtime import default_store
from lineage_core.store.retention import RetentionTables

from .services.lineage_server import Server
from .services.olspec import check_event, spec_registry, validate

pytestmark = pytest.mark.usefixtures("backend")
PNG = b"\x89PNG\r\n\x1a\n"
TOKEN = "metrics-t0ken"

STEPS = '''
from lineage_core import cached, log_metric

@cached(name="m.evaluate", metrics=True)
def evaluate(lr: float) -> dict:
    return {"accuracy": 0.5 + lr, "loss": 1.0 - lr}

@cached(name="m.train")
def train(lr: float, epochs: int = 3) -> float:
    for epoch in range(epochs):
        log_metric("loss", 1.0 / (epoch + 1 + lr))
    log_metric("epochs", epochs)
    return lr * 2

@cached(name="m.bad_value")
def bad_value(value):
    log_metric("score", value)
    return 1

@cached(name="m.not_a_dict", metrics=True)
def not_a_dict(x: int):
    return [x]

@cached(name="m.flag", metrics=True)
def flag(x: int) -> dict:
    return {"converged": True}

@cached(name="m.diverges")
def diverges(epochs: int) -> float:
    for epoch in range(epochs):
        log_metric("loss", 1.0 / (epoch + 1))
    raise FloatingPointError("the loss is nan")
'''


def lineage(*args: str, url: str | None = None, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LINEAGE_STORE_TOKEN"}
    env.update({"LINEAGE_STORE_URL": url or os.environ["LINEAGE_STORE_URL"],
                **({"LINEAGE_STORE_TOKEN": token} if token else {})})
    return subprocess.run([sys.executable, "-m", "lineage_core.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, (p.stdout, p.stderr)
    return p.stdout


@pytest.fixture(scope="module")
def registry() -> Registry:
    return spec_registry()


def three_runs(m: ModuleType) -> tuple[str, str, str]:
    """Two misses of m.evaluate and a hit of the second."""
    m.evaluate(0.1)
    a = explain(m.evaluate).run_id
    m.evaluate(0.25)
    b = explain(m.evaluate).run_id
    m.evaluate(0.25)
    hit = explain(m.evaluate)
    assert hit.hit and hit.source_run_id == b
    return a, b, hit.run_id


def test_returned_and_logged_metrics_are_the_runs_and_a_hit_shows_its_sources(
        make_module: Callable[..., ModuleType], registry: Registry) -> None:
    m = make_module(STEPS)
    a, b, hit = three_runs(m)
    store = default_store()
    assert m.evaluate(0.25) == {"accuracy": 0.75, "loss": 0.75}  # the value itself is cached as it was
    assert store.get_run(a)["context"]["metrics"] == {"accuracy": 0.6, "loss": 0.9}
    assert store.get_run(a)["context"]["orchestrator"] == "python"  # the context it began with is kept
    assert "metrics" not in (store.get_run(hit)["context"] or {})  # a hit computed nothing: nothing copied
    assert run_metrics(store, store.get_run(hit)) == {"accuracy": 0.75, "loss": 0.75}  # its source run's
    (newest,) = with_run_metrics(store, store.runs(job="m.evaluate", limit=1))  # its source is not listed
    assert newest["source_run_id"] == b and newest["metrics"] == {"accuracy": 0.75, "loss": 0.75}

    m.train(0.0)
    logged = store.get_run(explain(m.train).run_id)["context"]["metrics"]
    assert logged == {"loss": pytest.approx(1 / 3), "epochs": 3.0}  # the last value logged under a name

    for run_id, source in ((b, None), (hit, b)):
        start, complete = run_events(store, run_id)
        for event in (start, complete):
            check_event(registry, event)  # the facet against its own schema, the event against the spec
        assert "lineage_metrics" not in start["run"]["facets"]
        facet = complete["run"]["facets"]["lineage_metrics"]
        assert facet["metrics"] == {"accuracy": 0.75, "loss": 0.75} and facet.get("sourceRunId") == source
    url = facet["_schemaURL"]
    for wrong in ({"accuracy": "high"}, {"": 1.0}):
        with pytest.raises(ValidationError):
            validate(registry, url, {**facet, "metrics": wrong})


def test_a_hit_keeps_its_metrics_when_gc_removes_its_source_run(make_module: Callable[..., ModuleType]) -> None:
    m = make_module(STEPS)
    _, b, hit = three_runs(m)
    store = default_store()
    RetentionTables(store).remove([], [b], [], artifacts_before=0.0)  # what gc does with an expired source run
    with pytest.raises(RunNotFoundError):
        store.get_run(b)
    run = store.get_run(hit)
    assert run["context"]["metrics"] == {"accuracy": 0.75, "loss": 0.75}  # handed over before the source went
    assert run_metrics(store, run) == {"accuracy": 0.75, "loss": 0.75}
    assert run_events(store, hit)[-1]["run"]["facets"]["lineage_metrics"]["metrics"] == run["context"]["metrics"]


def test_bad_metric_values_are_a_metric_error_and_fail_the_run(make_module: Callable[..., ModuleType]) -> None:
    m = make_module(STEPS)
    store = default_store()
    for value, words in ((math.nan, "is nan: a metric must be finite"), (math.inf, "is inf: a metric must be"),
                         ("high", "is a str"), (None, "is a NoneType"), (True, "is a bool")):
        with pytest.raises(MetricError, match=f"metric 'score' {words}"):
            m.bad_value(value)
        failed = store.runs(job="m.bad_value", limit=1)[0]
        assert failed["status"] == "FAILED" and "MetricError" in failed["error"]
    assert store.lookup(store.runs(job="m.bad_value", limit=1)[0]["cache_key"]) is None  # nothing cached
    with pytest.raises(MetricError, match=r"m\.not_a_dict is cached with metrics=True, so it must return a dict"):
        m.not_a_dict(1)
    with pytest.raises(MetricError, match="metric 'converged' is a bool"):
        m.flag(1)
    assert [r["status"] for r in store.runs(job="m.flag")] == ["FAILED"]
    for name in ("", "x" * 201, 7):
        with pytest.raises(MetricError, match="metric name"):
            log_metric(name, 1.0)  # type: ignore[arg-type]
    assert isinstance(MetricError("x"), LineageError) and isinstance(MetricError("x"), ValueError)
    assert log_metric("outside", 2) == 2.0  # outside a step: checked, then dropped (no run records it)


def test_a_failed_run_keeps_the_metrics_it_logged(make_module: Callable[..., ModuleType], registry: Registry) -> None:
    m = make_module(STEPS)
    store = default_store()
    with pytest.raises(FloatingPointError):
        m.diverges(4)
    failed = store.runs(job="m.diverges", limit=1)[0]
    assert failed["status"] == "FAILED" and "the loss is nan" in failed["error"]
    assert failed["context"]["metrics"] == {"loss": 0.25} and failed["context"]["orchestrator"] == "python"
    assert store.lookup(failed["cache_key"]) is None  # nothing cached
    start, fail = run_events(store, failed["id"])
    for event in (start, fail):
        check_event(registry, event)
    assert fail["eventType"] == "FAIL" and fail["run"]["facets"]["lineage_metrics"]["metrics"] == {"loss": 0.25}


def test_runs_metrics_compare_and_plot_from_the_database(make_module: Callable[..., ModuleType],
                                                         tmp_path: Path) -> None:
    m = make_module(STEPS)
    a, b, hit = three_runs(m)
    table = ok(lineage("runs", "--job", "m.evaluate", "--metrics"))
    header = next(line for line in table.splitlines() if "accuracy" in line)
    assert "loss" in header and "key" not in header
    for run_id, accuracy, loss in ((a, "0.6", "0.9"), (b, "0.75", "0.75"), (hit, "0.75", "0.75")):
        (line,) = [ln for ln in table.splitlines() if run_id in ln]
        assert [cell.strip() for cell in line.split("│")][-3:-1] == [accuracy, loss], line

    out = json.loads(ok(lineage("compare", a, b, hit, "--json")))
    assert [r["id"] for r in out["runs"]] == [a, b, hit]
    assert [r["metrics"]["accuracy"] for r in out["runs"]] == [0.6, 0.75, 0.75]
    assert out["differs"]["parameters"] == ["lr"] and out["differs"]["metrics"] == ["accuracy", "loss"]
    assert out["runs"][0]["params"]["lr"] == "0.1" and out["runs"][0]["environment"]["python"]
    assert "python" not in out["differs"]["environment"]  # one interpreter made them all
    text = ok(lineage("compare", a, b))
    assert "≠ lr" in text and "≠ accuracy" in text and "  python" in text and "≠ python" not in text

    png = tmp_path / "plots" / "accuracy.png"
    said = ok(lineage("compare", "--job", "m.evaluate", "--plot", "accuracy", "-o", str(png)))
    assert f"wrote {png} (accuracy of 3 of 3 runs)" in said
    data = png.read_bytes()
    assert data.startswith(PNG) and len(data) > 2000
    missing = lineage("compare", a, "--plot", "f1", "-o", str(tmp_path / "f1.png"))
    assert missing.returncode == 2 and "no run compared has metric 'f1' (they have: accuracy, loss)" in missing.stderr
    assert not (tmp_path / "f1.png").exists() and "Traceback" not in missing.stderr
    none = lineage("compare")
    assert none.returncode == 2 and "name the runs to compare" in none.stderr


@pytest.fixture
def served(backend: str, tmp_path: Path) -> Iterator[Server]:
    server = Server({"LINEAGE_SERVER_TOKENS": TOKEN, "LINEAGE_STORE_URL": backend}, host="0.0.0.0")
    yield server
    server.stop()


@pytest.mark.slow  # starts a lineage server
def test_metrics_through_a_server_store_its_read_api_and_the_cli(
        served: Server, backend: str, make_module: Callable[..., ModuleType], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{served.port}"
    monkeypatch.setenv("LINEAGE_STORE_URL", url)  # the steps' store is the server (its store API)
    monkeypatch.setenv("LINEAGE_STORE_TOKEN", TOKEN)
    monkeypatch.setenv("LINEAGE_HOME", str(tmp_path / "pod-home"))
    m = make_module(STEPS)
    a, b, hit = three_runs(m)
    m.train(1.0, epochs=2)
    trained = explain(m.train).run_id
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, run = served.request("GET", f"/api/v1/runs/{a}", headers=auth)
    assert status == 200 and run["metrics"] == {"accuracy": 0.6, "loss": 0.9}
    status, run = served.request("GET", f"/api/v1/runs/{hit}", headers=auth)
    assert status == 200 and run["metrics"] == {"accuracy": 0.75, "loss": 0.75} and run["source_run_id"] == b
    status, rows = served.request("GET", "/api/v1/runs?limit=10", headers=auth)
    assert {r["id"]: r["metrics"] for r in rows} == {
        a: {"accuracy": 0.6, "loss": 0.9}, b: {"accuracy": 0.75, "loss": 0.75},
        hit: {"accuracy": 0.75, "loss": 0.75}, trained: {"loss": pytest.approx(1 / 3), "epochs": 2.0}}

    for args in (["runs", "--job", "m.evaluate", "--metrics"], ["runs", "--json"], ["show", hit],
                 ["compare", a, b, hit], ["compare", "--job", "m.evaluate", "--json"]):
        here = ok(lineage(*args, url=backend))
        assert ok(lineage(*args, url=url, token=TOKEN)) == here, args
    png = tmp_path / "loss.png"
    ok(lineage("compare", a, b, hit, "--plot", "loss", "-o", str(png), url=url, token=TOKEN))
    assert png.read_bytes().startswith(PNG)
