"""Hand-offs are lineage: every run records what it read and wrote when it is written, so a chain of cached steps
that hands values on in memory (DataFrames, arrays), by reference (``step.ref()``) or as files is one connected
graph in the lineage tables — the demo pipeline and plain-Python chains, on SQLite and PostgreSQL — and
invalidating or collecting a producing key never changes a past run's events or the graph they make."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from lineage_core import explain
from lineage_core.cache import CachedFunction, default_store
from lineage_core.openlineage.graph import NodeId, lineage
from lineage_core.openlineage.ingest import ingest
from lineage_core.openlineage.records import run_events
from lineage_core.openlineage.sync import sync_runs
from lineage_core.retention import GcPlan, apply_plan, collect_garbage
from lineage_core.store import Store
from lineage_core.store import schema as t

from .conftest import StoreServer

pytestmark = pytest.mark.usefixtures("backend")
DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo_pipeline.py"

CHAIN = '''
from pathlib import Path
import numpy as np
import pandas as pd
from lineage_core import cached

@cached(name="chain.load")
def load(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)

@cached(name="chain.features")
def features(raw: pd.DataFrame, scale: float = 2.0) -> pd.DataFrame:
    return raw.assign(z=raw["x"] * scale)

@cached(name="chain.matrix")
def matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[["x", "z"]].to_numpy()

@cached(name="chain.report")
def report(m: np.ndarray, out: Path) -> Path:
    out.write_text(f"{float(m.sum())}\\n")
    return out

@cached(name="chain.total")
def total(report: Path) -> float:
    return float(report.read_text())
'''


@pytest.fixture
def demo() -> Iterator[ModuleType]:
    """examples/demo_pipeline.py as a module (its steps are named demo_pipeline.*), run in this test's store."""
    spec = importlib.util.spec_from_file_location("demo_pipeline", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_pipeline"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["demo_pipeline"]


def node(dataset: dict[str, Any]) -> NodeId:
    return NodeId("dataset", dataset["namespace"], dataset["name"])


def datasets(step: CachedFunction[..., Any]) -> tuple[list[NodeId], list[NodeId]]:
    """(inputs, outputs) of the step's last run, as its events name them."""
    events = run_events(default_store(), explain(step).run_id)
    return [node(d) for d in events[0]["inputs"]], [node(d) for d in events[-1]["outputs"]]


def edges(graph: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["origin"], e["destination"]) for n in graph["graph"] for e in n["outEdges"]}


def downstream(store: Store, start: NodeId, direction: str = "downstream") -> set[tuple[str, str]]:
    """The graph's edges from ``start``, after our runs are synced into the lineage tables."""
    sync_runs(store)
    return edges(lineage(store, start, depth=10, direction=direction))


def reaches(pairs: set[tuple[str, str]], start: NodeId, goal: NodeId) -> bool:
    seen, frontier = {str(start)}, {str(start)}
    while frontier:
        frontier = {b for a, b in pairs if a in frontier} - seen
        seen |= frontier
    return str(goal) in seen


def rows_of(store: Store, run_id: str) -> int:
    with store.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(t.run_datasets)
                             .where(t.run_datasets.c.run_id == run_id)).scalar_one())


def job(name: str, namespace: str = "default") -> str:
    return f"job:{namespace}:{name}"


# -- the demo -------------------------------------------------------------------------------------------------
def test_the_demo_is_one_graph_load_preprocess_train_evaluate(demo: ModuleType) -> None:
    demo.pipeline(1.0)
    store = default_store()
    (load_in, (raw,)) = datasets(demo.load)
    assert load_in == []
    prep_in, (prepared,) = datasets(demo.preprocess)
    train_in, (model,) = datasets(demo.train)
    eval_in, (metrics,) = datasets(demo.evaluate)
    assert prep_in == [raw] and train_in == [prepared] and eval_in == [prepared, model]  # no more `inputs: []`
    assert reaches(downstream(store, raw), raw, metrics)
    pairs = downstream(store, raw, "both")  # Marquez's graph of the raw data's job: every edge of the pipeline
    ns = demo.NAMESPACE
    for a, b in [(str(raw), job("demo_pipeline.preprocess", ns)), (job("demo_pipeline.preprocess", ns), str(prepared)),
                 (str(prepared), job("demo_pipeline.train", ns)), (job("demo_pipeline.train", ns), str(model)),
                 (str(model), job("demo_pipeline.evaluate", ns)), (job("demo_pipeline.evaluate", ns), str(metrics))]:
        assert (a, b) in pairs

    demo.pipeline(1.0)  # all hits: each records the datasets its source run wrote, and resolves its own inputs
    assert all(explain(s).hit for s in (demo.load, demo.preprocess, demo.train, demo.evaluate))
    assert rows_of(store, explain(demo.load).run_id) == 0  # no data arguments: the hit is its run row alone
    assert rows_of(store, explain(demo.evaluate).run_id) == 2  # its two inputs; its outputs are its source's
    assert datasets(demo.evaluate) == ([prepared, model], [metrics])
    assert datasets(demo.train) == ([prepared], [model])
    assert reaches(downstream(store, raw), raw, metrics)

    demo.pipeline(0.01)  # train and evaluate re-run: a new model, still one graph from the raw data
    _, (model2,) = datasets(demo.train)
    eval_in, (metrics2,) = datasets(demo.evaluate)
    assert model2 != model and eval_in == [prepared, model2]
    assert reaches(downstream(store, raw), raw, metrics2)


# -- plain-Python chains ---------------------------------------------------------------------------------------
def run_chain(m: ModuleType, where: Path, raw: Path) -> None:
    """load -> features -> matrix -> report -> total; ``raw`` as given (relative to the cwd, or not)."""
    pd.DataFrame({"x": [1.0, 2.0, 3.0]}).to_csv(where / "raw.csv", index=False)
    m.total(m.report(m.matrix(m.features(m.load(raw))), where / "report.txt"))


def test_a_chain_of_frames_arrays_and_files_is_one_graph(make_module: Callable[..., ModuleType], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    m = make_module(CHAIN)
    monkeypatch.chdir(tmp_path)  # the input is given by a relative path: recorded by its absolute name
    run_chain(m, tmp_path, Path("raw.csv"))
    store = default_store()
    (source,), (raw,) = datasets(m.load)
    assert source == NodeId("dataset", "file", str(tmp_path / "raw.csv"))
    features_in, (frame,) = datasets(m.features)
    assert features_in == [raw]  # a DataFrame handed on in memory: the output of the run that returned it
    matrix_in, (array,) = datasets(m.matrix)
    assert matrix_in == [frame]
    report_in, (report,) = datasets(m.report)
    assert report_in[0] == array  # an ndarray handed on in memory (its output path is an input by name too)
    total_in, (total,) = datasets(m.total)
    assert total_in == [report]  # the Path the step returned: that run's output
    assert reaches(downstream(store, source), source, total)


def test_a_chain_by_reference_links_through_each_producing_run(make_module: Callable[..., ModuleType],
                                                               tmp_path: Path) -> None:
    m = make_module(CHAIN)
    (tmp_path / "raw.csv").write_text("x\n1.0\n2.0\n")
    raw_ref = m.load.ref(tmp_path / "raw.csv")
    frame_ref = m.features.ref(raw_ref)
    m.matrix(frame_ref)
    store = default_store()
    (source,), (raw,) = datasets(m.load)
    assert datasets(m.features) == ([raw], datasets(m.features)[1])
    (frame,) = datasets(m.features)[1]
    matrix_in, (array,) = datasets(m.matrix)
    assert matrix_in == [frame]
    events = run_events(store, explain(m.matrix).run_id)
    assert [d["facets"]["schema"]["fields"][0]["name"] for d in events[0]["inputs"]] == ["x"]  # the frame's columns
    assert reaches(downstream(store, source), source, array)


def test_an_in_memory_value_nobody_recorded_is_no_dataset(make_module: Callable[..., ModuleType]) -> None:
    m = make_module(CHAIN)
    m.matrix(pd.DataFrame({"x": [1.0], "z": [2.0]}))
    assert datasets(m.matrix)[0] == []
    assert len(datasets(m.matrix)[1]) == 1


def test_a_chain_on_the_lineage_servers_store_links_the_same_way(
    make_module: Callable[..., ModuleType], store_server: StoreServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A task holding only the server's URL and token: the server resolves its inputs, one request per run."""
    monkeypatch.setenv("LINEAGE_STORE_URL", store_server.url)
    monkeypatch.setenv("LINEAGE_STORE_TOKEN", store_server.token)
    m = make_module(CHAIN)
    raw = pd.DataFrame({"x": np.random.default_rng().random(4)})  # new content: the server's store is shared
    frame = m.features(raw)
    m.matrix(frame)
    m.matrix(frame)  # a hit: its own inputs, its source's outputs
    assert datasets(m.features)[0] == []  # nobody recorded the raw frame
    (written,) = datasets(m.features)[1]
    assert datasets(m.matrix)[0] == [written]
    assert explain(m.matrix).hit and len(datasets(m.matrix)[1]) == 1


# -- history is never rewritten --------------------------------------------------------------------------------
def rebuilt_graph(store: Store, runs: list[str], start: NodeId, tmp_path: Path) -> set[tuple[str, str]]:
    """The graph the runs' events make now, rebuilt from the store into a fresh one (what a new Marquez fed
    today's events would draw)."""
    fresh = Store.from_url(f"sqlite:///{tmp_path / f'fresh-{len(list(tmp_path.iterdir()))}.db'}",
                           (tmp_path / "fresh-artifacts").as_uri())
    try:
        ingest(fresh, [e for r in runs for e in run_events(store, r)])
        return edges(lineage(fresh, start, depth=10, direction="downstream"))
    finally:
        fresh.close()


def test_invalidate_and_gc_of_the_producing_key_change_no_past_run(make_module: Callable[..., ModuleType],
                                                                   tmp_path: Path) -> None:
    m = make_module(CHAIN)
    data = tmp_path / "data"
    data.mkdir()
    run_chain(m, data, data / "raw.csv")
    run_chain(m, data, data / "raw.csv")  # hits of each
    store = default_store()
    producer = store.get_run(explain(m.features).run_id)["source_run_id"]  # the run that computed the frame
    key = store.get_run(producer)["cache_key"]
    runs = [r["id"] for r in store.runs(limit=100)]
    start = datasets(m.load)[0][0]
    before = {r: run_events(store, r) for r in runs}
    graph = downstream(store, start)
    assert before[producer][-1]["outputs"] and reaches(graph, start, datasets(m.total)[1][0])

    assert store.invalidate(key=key) == 1
    assert {r: run_events(store, r) for r in runs} == before
    assert downstream(store, start) == graph and rebuilt_graph(store, runs, start, tmp_path) == graph

    report = collect_garbage(store, grace=0)  # the invalidated entry, its artifact row and its blob go
    assert report.entries == 1 and report.blobs >= 1 and store.lookup(key) is None
    assert {r: run_events(store, r) for r in runs} == before
    assert downstream(store, start) == graph and rebuilt_graph(store, runs, start, tmp_path) == graph


def test_gc_of_a_source_run_hands_its_outputs_to_its_hits_and_deletes_its_rows(
    make_module: Callable[..., ModuleType], tmp_path: Path,
) -> None:
    m = make_module(CHAIN)
    frame = pd.DataFrame({"x": [1.0, 2.0], "z": [3.0, 4.0]})
    m.matrix(frame)
    source = explain(m.matrix).run_id
    m.matrix(frame)
    hit = explain(m.matrix).run_id
    store = default_store()
    before = run_events(store, hit)
    assert before[-1]["outputs"] == run_events(store, source)[-1]["outputs"] != []
    plan = GcPlan(at=0.0, sweep_before=0.0, entries=(), runs=(source,), artifacts=(), blobs=(), kept_pinned=0)
    assert rows_of(store, hit) == 0
    assert apply_plan(store, plan).runs == 1
    assert run_events(store, hit) == before  # the hit still wrote what it wrote
    assert rows_of(store, source) == 0 and rows_of(store, hit) == 1  # handed over, then gone with its run


def test_runs_recorded_before_datasets_still_emit(make_module: Callable[..., ModuleType], tmp_path: Path) -> None:
    """A store written by an older version has runs without rows: their events are rebuilt as before (inputs from
    the key's file arguments, outputs from the entry the run produced)."""
    m = make_module(CHAIN)
    src = tmp_path / "raw.csv"
    src.write_text("x\n1.0\n")
    m.load(src)
    miss = explain(m.load).run_id
    m.load(src)
    hit = explain(m.load).run_id
    store = default_store()
    expected = {r: run_events(store, r) for r in (miss, hit)}
    with store.engine.begin() as c:
        c.execute(t.run_datasets.delete())
    assert {r: run_events(store, r) for r in (miss, hit)} == expected
    for r in (miss, hit):
        assert [d["name"] for d in expected[r][0]["inputs"]] == [str(src)] and expected[r][-1]["outputs"]


def test_a_numpy_hand_off_is_keyed_and_linked_by_the_same_hash(make_module: Callable[..., ModuleType]) -> None:
    """The output's ``content`` is the hash the value has as the next step's argument (the two sides agree)."""
    m = make_module(CHAIN)
    out = m.matrix(pd.DataFrame({"x": [1.0], "z": [2.0]}))
    assert isinstance(out, np.ndarray)
    store = default_store()
    content = store.run_datasets(explain(m.matrix).run_id)[1][0].content
    assert content is not None
    assert content == m.report.manifest(out, Path("unused.txt")).components["inputs"]["m"]
