from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from lineage_core import cached, explain
from lineage_core.cache import default_store
from lineage_core.context import run_context
from lineage_core.errors import ConfigError, MaterializerError, UnhashableInputError

pytestmark = pytest.mark.usefixtures("backend")  # every test here runs on SQLite and on PostgreSQL

STEPS = '''
import numpy as np
from pathlib import Path
from lineage_core import cached

CALLS = []

def normalise(x):
    return x * 2

@cached
def total(xs, factor=2):
    CALLS.append(("total", list(xs), factor))
    return float(np.sum(normalise(np.array(xs)))) * factor

@cached
def count_lines(path: Path) -> int:
    CALLS.append(("count_lines", str(path)))
    return len(path.read_text().splitlines())
'''


@pytest.fixture
def steps(make_module: Callable[..., ModuleType]) -> ModuleType:
    return make_module(STEPS, name="steps")


def test_second_call_is_a_hit_without_running(steps: ModuleType) -> None:
    assert steps.total([1, 2, 3]) == 24.0
    first = explain(steps.total)
    assert not first.hit and first.reasons == ["first run of steps.total (no previous key in namespace default)"]
    assert steps.total([1, 2, 3]) == 24.0
    second = explain(steps.total)
    assert second.hit and second.source_run_id == first.run_id and second.key == first.key
    assert second.run_id != first.run_id
    assert len(steps.CALLS) == 1
    runs = default_store().runs(job="steps.total")
    assert [r["status"] for r in runs] == ["CACHED", "COMPLETED"]
    assert runs[0]["source_run_id"] == first.run_id


def test_parameter_change_is_explained(steps: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    steps.total([1, 2, 3])
    with caplog.at_level(logging.INFO, logger="lineage_core"):
        steps.total([1, 2, 3], factor=3)
    assert explain(steps.total).reasons == ["parameter 'factor' changed: 2 → 3"]
    misses = [r.message for r in caplog.records if r.message.startswith("cache miss")]
    assert len(misses) == 1 and "parameter 'factor' changed: 2 → 3" in misses[0]


def test_input_file_change_is_explained(steps: ModuleType, tmp_path: Path) -> None:
    p = tmp_path / "data.txt"
    p.write_text("a\nb\n")
    assert steps.count_lines(p) == 2
    assert steps.count_lines(p) == 2 and explain(steps.count_lines).hit
    p.write_text("a\nb\nc\n")
    assert steps.count_lines(p) == 3
    (reason,) = explain(steps.count_lines).reasons
    assert reason.startswith("input 'path' changed (blake3:") and "→ blake3:" in reason


def test_helper_change_is_a_miss_naming_the_helper(make_module: Callable[..., ModuleType]) -> None:
    make_module("def normalise(x):\n    return x * 2\n", name="prep")
    main = "from lineage_core import cached\nfrom prep import normalise\n" \
           "@cached\ndef total(x):\n    return normalise(x)\n"
    assert make_module(main, name="pipe").total(2) == 4
    make_module("def normalise(x):\n    return x * 3\n", name="prep")
    pipe = make_module(main, name="pipe")
    assert pipe.total(2) == 6
    assert explain(pipe.total).reasons == ["code changed: total() (helper normalise() in prep.py)"]


def test_own_code_change_is_explained(make_module: Callable[..., ModuleType]) -> None:
    src = "from lineage_core import cached\n@cached\ndef f(x):\n    return x + 1\n"
    assert make_module(src, name="own").f(1) == 2
    m = make_module(src.replace("x + 1", "x + 2"), name="own")
    assert m.f(1) == 3
    assert explain(m.f).reasons == ["code changed: f() (its own code)"]


def test_cache_modes(steps: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_CACHE", "write")
    steps.total([1])
    steps.total([1])
    assert len(steps.CALLS) == 2 and not explain(steps.total).hit
    monkeypatch.setenv("LINEAGE_CACHE", "read")
    steps.total([1])
    assert explain(steps.total).hit
    steps.total([5])  # miss, computed, but not written
    steps.total([5])
    assert len(steps.CALLS) == 4
    monkeypatch.setenv("LINEAGE_CACHE", "off")
    steps.total([1])
    assert len(steps.CALLS) == 5
    monkeypatch.setenv("LINEAGE_CACHE", "bogus")
    with pytest.raises(ConfigError, match="LINEAGE_CACHE='bogus'"):
        steps.total([1])


def test_step_setting_beats_global_and_refresh_recomputes(make_module: Callable[..., ModuleType],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    m = make_module("from lineage_core import cached\nN = []\n"
                    "@cached(cache='readwrite')\ndef f(x):\n    N.append(x)\n    return x\n")
    monkeypatch.setenv("LINEAGE_CACHE", "off")
    m.f(1)
    m.f(1)
    assert len(m.N) == 1
    m.f(1, refresh=True)
    assert len(m.N) == 2 and explain(m.f).reasons == ["refresh requested"]
    m.f.refresh(1)
    assert len(m.N) == 3
    m.f(1)
    assert len(m.N) == 3 and explain(m.f).hit


def test_max_age_is_a_lookup_rule(make_module: Callable[..., ModuleType]) -> None:
    m = make_module("from lineage_core import cached\n@cached(max_age=60)\ndef f(x):\n    return x\n")
    m.f(1)
    m.f(1)
    assert explain(m.f).hit
    store = default_store()
    with store.engine.begin() as c:
        c.exec_driver_sql("UPDATE cache_entries SET created_at = created_at - 120")
    m.f(1)
    out = explain(m.f)
    assert not out.hit and "older than max_age=60s" in out.reasons[0]


def test_disabled_is_a_no_op(steps: ModuleType, monkeypatch: pytest.MonkeyPatch, lineage_home: Path) -> None:
    monkeypatch.setenv("LINEAGE_DISABLED", "true")
    steps.total([1])
    steps.total([1])
    assert len(steps.CALLS) == 2
    assert not (lineage_home / "lineage.db").exists()


def test_orchestrator_is_not_part_of_the_key(steps: ModuleType) -> None:
    steps.total([7])
    with run_context(orchestrator="airflow", dag_id="d", task_id="t"):
        steps.total([7])
    assert explain(steps.total).hit
    runs = default_store().runs(job="steps.total")
    assert runs[0]["context"]["orchestrator"] == "airflow" and runs[1]["context"] == {"orchestrator": "python"}


def test_corrupt_artifact_is_a_miss_never_a_wrong_value(steps: ModuleType, caplog: pytest.LogCaptureFixture) -> None:
    steps.total([1, 2])
    store = default_store()
    (entry,) = store.entries()
    blob = store.artifacts.path_for(store.lookup(entry["key"]).artifact_hash)  # type: ignore[union-attr]
    Path(blob).write_bytes(b"666.0")  # same size class, wrong content
    with caplog.at_level(logging.WARNING, logger="lineage_core"):
        assert steps.total([1, 2]) == 12.0
    out = explain(steps.total)
    assert not out.hit and "failed verification" in out.reasons[0]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert steps.total([1, 2]) == 12.0 and explain(steps.total).hit  # recomputed and re-stored
    os.unlink(blob)
    assert steps.total([1, 2]) == 12.0 and not explain(steps.total).hit  # missing blob: a miss too


def test_failure_records_failed_run_and_no_entry(make_module: Callable[..., ModuleType]) -> None:
    m = make_module("from lineage_core import cached\n@cached\ndef f(x):\n    raise ValueError('bad ' + x)\n")
    with pytest.raises(ValueError, match="bad y"):
        m.f("y")
    run = default_store().runs()[0]
    assert run["status"] == "FAILED" and "ValueError: bad y" in run["error"]
    assert default_store().entries() == []


def test_unhashable_argument_names_the_parameter(make_module: Callable[..., ModuleType]) -> None:
    m = make_module("from lineage_core import cached\n@cached\ndef f(client, x):\n    return x\n"
                    "@cached(exclude=['client'])\ndef g(client, x):\n    return x\n")
    with pytest.raises(UnhashableInputError, match=r"parameter 'client' of type builtins\.object"):
        m.f(object(), 1)
    assert m.g(object(), 1) == 1 and m.g(object(), 1) == 1 and explain(m.g).hit


def test_values_round_trip_exactly(make_module: Callable[..., ModuleType], tmp_path: Path) -> None:
    m = make_module("from lineage_core import cached\n@cached\ndef ident(x):\n    return x\n"
                    "@cached(pickle=True)\ndef pick(x):\n    return x\n")
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    for value in ["text", b"raw", {"k": [1, 2.5, None, True]}, 3, np.arange(6).reshape(2, 3)]:
        first, second = m.ident(value), m.ident(value)
        assert explain(m.ident).hit
        for got in (first, second):
            assert type(got) is type(value)
            assert np.array_equal(got, value) if isinstance(value, np.ndarray) else got == value
    pd.testing.assert_frame_equal(m.ident(df), df)
    with pytest.raises(MaterializerError, match="pickle=True"):
        m.ident((1, 2))
    assert m.pick((1, {2})) == (1, {2}) and m.pick((1, {2})) == (1, {2}) and explain(m.pick).hit


def test_path_outputs_are_restored(make_module: Callable[..., ModuleType], tmp_path: Path) -> None:
    m = make_module("from pathlib import Path\nfrom lineage_core import cached\n"
                    "@cached\ndef write(d: str):\n    p = Path(d) / 'out'\n    p.mkdir(parents=True, exist_ok=True)\n"
                    "    (p / 'a.txt').write_text('hello')\n    return p\n")
    out = m.write(str(tmp_path / "w"))
    assert (out / "a.txt").read_text() == "hello"
    import shutil

    shutil.rmtree(out)
    again = m.write(str(tmp_path / "w"))
    assert explain(m.write).hit and (again / "a.txt").read_text() == "hello"


def test_large_arrays_pass_down_a_chain_without_rehash(make_module: Callable[..., ModuleType]) -> None:
    import lineage_core.hashing.values as values

    m = make_module("import numpy as np\nfrom lineage_core import cached\n"
                    "@cached\ndef make(n):\n    return np.ones(n)\n"
                    "@cached\ndef scale(a, k):\n    return a * k\n")
    a = m.make(1000)
    assert not a.flags.writeable  # what a cached step returns is frozen: it cannot drift from its hash
    b = m.scale(a, 2)
    calls = []
    orig = values.ndarray_hash
    values.ndarray_hash = lambda *x, **k: calls.append(1) or orig(*x, **k)  # type: ignore[assignment]
    try:
        assert m.scale(m.make(1000), 2) is not None and explain(m.scale).hit
    finally:
        values.ndarray_hash = orig
    assert calls == [] and np.array_equal(b, np.full(1000, 2.0))
    fresh = np.ones(1000)  # a writable array is always hashed by content
    assert m.scale(fresh, 2) is not None and explain(m.scale).hit


def test_large_blob_rewritten_in_place_is_detected(make_module: Callable[..., ModuleType]) -> None:
    m = make_module("import numpy as np\nfrom lineage_core import cached\nN = []\n"
                    "@cached\ndef make(n):\n    N.append(n)\n    return np.arange(n, dtype=np.float64)\n")
    n = 3 * 2**20  # 24 MiB: memory-mapped, stat-trusted after its first verified read
    assert m.make(n)[-1] == n - 1 and m.make(n)[-1] == n - 1 and explain(m.make).hit
    store = default_store()
    blob = Path(store.artifacts.path_for(store.lookup(explain(m.make).key).artifact_hash))  # type: ignore[union-attr]
    data = bytearray(blob.read_bytes())
    data[-8:] = np.float64(-1.0).tobytes()
    blob.write_bytes(bytes(data))  # same size, new content: the stat change forces a re-hash
    value = m.make(n)
    assert value[-1] == n - 1 and not explain(m.make).hit and len(m.N) == 2
    assert "failed verification" in explain(m.make).reasons[0]


def test_bad_decorator_options_are_clear_errors() -> None:
    async def coro() -> int:
        return 1

    def gen():  # type: ignore[no-untyped-def]
        yield 1

    for fn in (coro, gen):
        with pytest.raises(ConfigError, match="coroutine or generator"):
            cached(fn)
    with pytest.raises(ConfigError, match="env='latest'"):
        cached(env="latest")(lambda x: x)
    with pytest.raises(ConfigError, match="max_age"):
        cached(max_age=-1)(lambda x: x)
    with pytest.raises(ConfigError, match="exclude"):
        cached(exclude=["nope"])(lambda x: x)


def test_an_entry_of_an_older_key_schema_explains_itself(steps: ModuleType) -> None:
    """After a lineage-core upgrade changes how keys are made, the first miss says so (instead of "first run"),
    and still names what else changed."""
    store = default_store()
    steps.total([1, 2])
    current = steps.total.manifest([1, 2]).to_dict()
    old = {k: v for k, v in current.items() if k not in ("image", "hardware")} | {"schema": 1}
    old["params"] = {**old["params"], "factor": "blake3:" + "0" * 64}
    from lineage_core.store import schema

    with store.engine.begin() as c:  # as a schema-1 lineage-core stored it
        c.exec_driver_sql("DELETE FROM cache_entries")
        c.execute(schema.manifests.update().values(manifest=old))
    steps.total([1, 2])
    reasons = explain(steps.total).reasons
    assert reasons[0] == "key schema 1 → 2 (lineage-core upgrade: keys are made differently)"
    assert any(r.startswith("parameter 'factor' changed") for r in reasons[1:])


def test_hardware_is_key_material_when_declared(make_module: Callable[..., ModuleType]) -> None:
    from lineage_core.environment import EnvironmentSnapshot
    from lineage_core.keys import KeyContext, KeyManifest, explain_difference

    m = make_module("from lineage_core import cached\n@cached(hardware=True)\ndef f(x):\n    return x\n"
                    "@cached\ndef g(x):\n    return x\n")
    assert m.f.manifest(1).components["hardware"] == {"gpu": None, "cuda": None}  # no GPU on this machine
    assert "hardware" not in m.g.manifest(1).components  # a CPU step without the declaration: not keyed

    def on(gpus: list[str], cuda: str) -> KeyManifest:
        env = EnvironmentSnapshot(python="3.11.7", implementation="CPython", platform="linux", machine="x86_64",
                                  packages={}, gpu={"gpus": gpus, "cuda": cuda})
        return KeyManifest.build(KeyContext(env), scope="default", step="train", code={}, params={})

    a100, h100 = on(["NVIDIA A100-SXM4-80GB"], "12.4"), on(["NVIDIA H100 80GB HBM3"], "12.6")
    assert a100.key() != h100.key()  # a step in a GPU pod is keyed on its GPU without declaring it
    assert explain_difference(a100, h100) == ["GPU NVIDIA A100-SXM4-80GB → NVIDIA H100 80GB HBM3"]
    assert on(["NVIDIA A100-SXM4-80GB"], "12.6").key() == a100.key() is not None  # same CUDA major
    assert explain_difference(a100, on(["NVIDIA A100-SXM4-80GB"], "11.8")) == ["CUDA major 12 → 11"]


def test_key_components_are_data() -> None:
    import json

    from lineage_core.keys import COMPONENTS, KeyManifest
    from lineage_core.openlineage.facets import SCHEMAS

    with pytest.raises(ValueError, match="unknown key components"):
        KeyManifest.build(scope="default", step="s", gpu_count=1)
    facet = json.loads((SCHEMAS / "LineageCacheRunFacet.json").read_text())
    props = facet["$defs"]["LineageCacheRunFacet"]["allOf"][1]["properties"]["components"]
    assert props["propertyNames"]["enum"] == [c.name for c in COMPONENTS]  # the facet documents the same list
    m = KeyManifest.build(scope="default", step="s", params={"a": "blake3:1"}, salt="2")
    assert KeyManifest.from_dict(m.to_dict()) == m and KeyManifest.from_dict(m.to_dict()).key() == m.key()
    assert set(m.component_hashes()) == {"scope", "step", "params", "salt"}


def test_reasons_are_typed(steps: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether a miss is explained is decided by the reason's kind, not by matching its words."""
    from lineage_core.runs import Reason, ReasonKind

    steps.total([4])
    monkeypatch.setenv("LINEAGE_CACHE", "off")
    steps.total([4])
    assert [r for r in explain(steps.total).reasons] == [Reason.cache_off()]  # a policy miss: nothing else
    monkeypatch.delenv("LINEAGE_CACHE")
    steps.total.refresh([4])
    reasons = steps.total.last.reasons if steps.total.last else []
    assert reasons[0] == Reason.refresh() and Reason.refresh().kind is ReasonKind.REFRESH
    assert ReasonKind.EXPIRED.explains_key and not ReasonKind.CACHE_OFF.explains_key
