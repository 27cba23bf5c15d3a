"""Any run's stored result back out, on both backends: ``lineage_core.load`` and ``lineage get`` for every built-in
materializer and a registered one, by id, prefix, tag and through a CACHED run; a pod's (``lineage exec``'s)
outputs listed and fetched by name; verified — a damaged blob or an overwritten output is an error naming the
run and nothing is written; pickle only when allowed; and the same through a real ``lineage serve`` as the store.
(Airflow tasks and KFP components: tests/airflow/test_get_load.py and tests/kfp/test_get_load.py.)"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

import lineage_core
from lineage_core import explain, load
from lineage_core.cache import default_store
from lineage_core.errors import ConfigError, IntegrityError, MaterializerError
from lineage_core.tags import move_tag

from .services.lineage_server import Server

pytestmark = pytest.mark.usefixtures("backend")

POINTS = '''
from pathlib import Path
from lineage_core import register_materializer
from lineage_core.store.materializers import Materializer

class Point:  # stored by a registered materializer (its file form: "x,y")
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)

class PointMaterializer(Materializer):
    name, version, suffix = "point", 1, ".csv"
    def can_save(self, value):
        return isinstance(value, Point)
    def save(self, value, path, ctx):
        Path(path).write_text(f"{value.x},{value.y}")
        return {}
    def load(self, buf, meta, ctx):
        return Point(*map(int, bytes(buf).decode().split(",")))

MATERIALIZER = PointMaterializer()
register_materializer(MATERIALIZER)
'''

STEPS = '''
from pathlib import Path
import numpy as np, pandas as pd
from lineage_core import cached
from lineage_points import Point

class Opaque:  # only pickle stores it
    def __init__(self, v):
        self.v = v

@cached(name="m.bytes")
def as_bytes(n): return b"\\x00\\x01" * n
@cached(name="m.str")
def as_str(n): return "héllo " * n
@cached(name="m.json")
def as_json(n): return {"n": n, "xs": [1.5, None, "a"]}
@cached(name="m.numpy")
def as_array(n): return np.arange(n * 6, dtype="float32").reshape(n * 2, 3)
@cached(name="m.pandas")
def as_frame(n): return pd.DataFrame({"a": list(range(n)), "b": [f"r{i}" for i in range(n)]})
@cached(name="m.file")
def as_file(out: str):
    p = Path(out); p.parent.mkdir(parents=True, exist_ok=True); p.write_text("one file"); return p
@cached(name="m.tree")
def as_tree(out: str):
    p = Path(out); (p / "sub").mkdir(parents=True, exist_ok=True)
    (p / "a.txt").write_text("a"); (p / "sub" / "b.bin").write_bytes(b"\\xff" * 10); return p
@cached(name="m.point")
def as_point(n): return Point(n, n + 1)
@cached(name="m.pickle", pickle=True)
def as_opaque(n): return Opaque(n)
'''


@pytest.fixture
def steps(make_module: Callable[..., ModuleType]) -> Iterator[ModuleType]:
    from lineage_core.store.materializers import _BY_ID, _REGISTERED

    points = make_module(POINTS, name="lineage_points")  # registers its materializer on import
    m = make_module(STEPS)
    m.Point = points.Point
    yield m
    _REGISTERED.remove(points.MATERIALIZER)
    _BY_ID.pop(points.MATERIALIZER.id)


def run_of(fn: object) -> str:
    return explain(fn).run_id


def lineage(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineage_core.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=cwd, timeout=120)


def test_load_and_get_every_builtin_materializer(steps: ModuleType, tmp_path: Path) -> None:
    values = {"bytes": steps.as_bytes(3), "str": steps.as_str(2), "json": steps.as_json(1)}
    runs = {"bytes": run_of(steps.as_bytes), "str": run_of(steps.as_str), "json": run_of(steps.as_json)}
    values["numpy"], runs["numpy"] = steps.as_array(2), run_of(steps.as_array)
    values["pandas"], runs["pandas"] = steps.as_frame(4), run_of(steps.as_frame)
    assert lineage_core.load is load
    for kind in ("bytes", "str", "json"):
        assert load(runs[kind]) == values[kind], kind
    assert np.array_equal(load(runs["numpy"][:30]), values["numpy"])  # a prefix names the run
    pd.testing.assert_frame_equal(load(runs["pandas"]), values["pandas"])
    out = tmp_path / "got"
    out.mkdir()
    written = {}
    for kind, run in runs.items():
        p = lineage("get", run, "-o", str(out))
        assert p.returncode == 0, p.stderr
        written[kind] = Path(p.stdout.strip())
    assert {k: p.suffix for k, p in written.items()} == {"bytes": ".bin", "str": ".txt", "json": ".json",
                                                          "numpy": ".npy", "pandas": ".parquet"}
    assert written["bytes"].read_bytes() == values["bytes"]
    assert written["str"].read_text(encoding="utf-8") == values["str"]
    assert json.loads(written["json"].read_text()) == values["json"]
    assert np.array_equal(np.load(written["numpy"]), values["numpy"])
    pd.testing.assert_frame_equal(pd.read_parquet(written["pandas"]), values["pandas"])
    meta = json.loads(lineage("get", runs["numpy"], "--json").stdout)
    assert meta["artifact"]["materializer"] == "numpy@1" and meta["artifact"]["meta"]["shape"] == [4, 3]
    assert meta["run_id"] == meta["source_run_id"] == runs["numpy"] and meta["outputs"] == []


def test_files_trees_registered_and_pickled_values(steps: ModuleType, tmp_path: Path) -> None:
    steps.as_file(str(tmp_path / "made" / "f.txt"))
    file_run = run_of(steps.as_file)
    steps.as_tree(str(tmp_path / "made" / "tree"))
    tree_run = run_of(steps.as_tree)
    assert load(file_run, destination=tmp_path / "back.txt").read_text() == "one file"
    tree = load(tree_run)
    assert (tree / "a.txt").read_text() == "a" and (tree / "sub" / "b.bin").read_bytes() == b"\xff" * 10
    p = lineage("get", tree_run, "-o", str(tmp_path / "restored"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "restored" / "sub" / "b.bin").read_bytes() == b"\xff" * 10
    # a registered materializer: the value in Python, its own file form on disk
    point_run = run_of_call(steps.as_point, 4)
    assert load(point_run) == steps.Point(4, 5)
    got = lineage("get", point_run, "-o", str(tmp_path))
    assert got.returncode == 2 and "not registered in this process" in got.stderr  # the CLI never registered it
    usercode = str(tmp_path / "usercode")  # where make_module wrote lineage_points
    got = lineage("get", point_run, "-o", str(tmp_path), "--import", "lineage_points", PYTHONPATH=usercode)
    assert got.returncode == 0, got.stderr
    assert Path(got.stdout.strip()).suffix == ".csv" and Path(got.stdout.strip()).read_text() == "4,5"
    # pickle: refused unless allowed, in Python and on disk
    pickled = run_of_call(steps.as_opaque, 7)
    with pytest.raises(MaterializerError, match=f"run {pickled}: .*allow_pickle=True"):
        load(pickled)
    assert load(pickled, allow_pickle=True).v == 7
    p = lineage("get", pickled, "-o", str(tmp_path / "o.pkl"))
    assert p.returncode == 2 and "--allow-pickle" in p.stderr and not (tmp_path / "o.pkl").exists()
    assert lineage("get", pickled, "-o", str(tmp_path / "o.pkl"), "--allow-pickle").returncode == 0
    assert pickle.loads((tmp_path / "o.pkl").read_bytes()).v == 7


def run_of_call(fn: Callable[[int], object], n: int) -> str:
    fn(n)
    return run_of(fn)


def test_a_cached_run_and_a_tag_resolve_to_the_source_value(steps: ModuleType) -> None:
    first = run_of_call(steps.as_json, 2)
    hit = run_of_call(steps.as_json, 2)
    assert explain(steps.as_json).hit and hit != first
    meta = json.loads(lineage("get", hit, "--json").stdout)
    assert (meta["run_id"], meta["source_run_id"], meta["status"]) == (hit, first, "CACHED")
    assert load(hit) == {"n": 2, "xs": [1.5, None, "a"]}
    move_tag(default_store(), hit, "prod")
    run_of_call(steps.as_json, 3)
    assert load("m.json@prod") == {"n": 2, "xs": [1.5, None, "a"]}
    default_store().invalidate(job="m.json")  # an invalidated entry's bytes still are the run's result
    assert load("m.json@prod")["n"] == 2
    with pytest.raises(ConfigError, match="not named outputs"):
        load(first, output="x")


def test_a_damaged_blob_is_an_error_naming_the_run_never_wrong_bytes(steps: ModuleType, tmp_path: Path) -> None:
    run = run_of_call(steps.as_str, 5)
    store = default_store()
    digest = store.run_datasets(run)[1][0].version
    assert digest is not None
    blob = Path(store.artifacts.path_for(digest))
    blob.write_bytes(blob.read_bytes()[::-1])  # same size, other bytes
    with pytest.raises(IntegrityError, match=f"run {run}: its stored result is damaged"):
        load(run)
    p = lineage("get", run, "-o", str(tmp_path / "x.txt"))
    assert p.returncode == 2 and f"run {run}: its stored result is damaged" in p.stderr
    assert not (tmp_path / "x.txt").exists() and not list(tmp_path.glob(".x.txt*"))
    blob.unlink()
    p = lineage("get", run, "-o", str(tmp_path / "x.txt"))
    assert p.returncode == 2 and f"run {run}: its stored result cannot be read" in p.stderr


def test_a_pods_outputs_are_listed_and_fetched_by_name(tmp_path: Path) -> None:
    work = tmp_path / "pod"
    work.mkdir()
    (work / "in.txt").write_text("data")
    cmd = ("import pathlib; p = pathlib.Path('model'); p.mkdir(exist_ok=True); (p / 'w.bin').write_bytes(b'\\x07' * 9);"
           " pathlib.Path('metrics.json').write_text('{\"acc\": 0.9}')")
    p = lineage("exec", "--input", str(work / "in.txt"), "--output", str(work / "model"), "--output",
                str(work / "metrics.json"), "--name", "pod.train", "--", sys.executable, "-c", cmd, cwd=work)
    assert p.returncode == 0, p.stderr
    run = default_store().runs(job="pod.train")[0]["id"]
    listing = json.loads(lineage("get", run, "--json").stdout)
    assert listing["artifact"] is None
    assert {(o["name"], o["uri"]) for o in listing["outputs"]} == {("model", str(work / "model")),
                                                                  ("metrics.json", str(work / "metrics.json"))}
    assert json.loads(load(run, output="metrics.json").read_text()) == {"acc": 0.9}
    with pytest.raises(ConfigError, match=r"wrote 2 outputs \(metrics.json, model\): name one"):
        load(run)
    out = tmp_path / "fetched"
    p = lineage("get", run, "--output", "model", "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert (out / "w.bin").read_bytes() == b"\x07" * 9
    everything = tmp_path / "all"
    everything.mkdir()
    assert lineage("get", run, "-o", str(everything)).returncode == 0
    assert sorted(q.name for q in everything.iterdir()) == ["metrics.json", "model"]
    (work / "metrics.json").write_text('{"acc": 0.1}')  # overwritten since the run: never handed out as its own
    with pytest.raises(IntegrityError, match=f"run {run}: output .*metrics.json is not what the run wrote"):
        load(run, output="metrics.json", destination=tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


@pytest.mark.slow
def test_load_and_get_through_a_lineage_server(steps: ModuleType, backend: str, tmp_path: Path) -> None:
    array = steps.as_array(3)
    run = run_of(steps.as_array)
    move_tag(default_store(), run, "best")
    server = Server({"LINEAGE_STORE_URL": backend})  # loopback: no token needed
    try:
        url = f"http://127.0.0.1:{server.port}"
        env = {"LINEAGE_STORE_URL": url}
        p = lineage("get", "m.numpy@best", "-o", str(tmp_path / "a.npy"), **env)
        assert p.returncode == 0, p.stderr
        assert np.array_equal(np.load(tmp_path / "a.npy"), array)
        code = ("import sys, numpy as np; from lineage_core import load; "
                "np.save(sys.argv[1], load('m.numpy@best'))")
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "b.npy")], env={**os.environ, **env}, check=True,
                       timeout=120)
        assert np.array_equal(np.load(tmp_path / "b.npy"), array)
    finally:
        server.stop()
