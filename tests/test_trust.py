"""The client decides how a value may be loaded, never the store.

A worker with a valid token (the lineage server's store API) or with the shared database + bucket can write
any entry for any key it has seen in the open lineage events. Each test here plants such an entry through
the store's own interface — a real token-protected lineage server, and a real PostgreSQL + S3 bucket — and
shows the victim's next call is a miss that recomputes: no code runs, nothing is written outside the
client's directories, no value of another type comes back.
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lineage_core import explain
from lineage_core.ids import new_run_id
from lineage_core.runtime import default_store
from lineage_core.store import CacheStore

from .conftest import StoreServer, new_bucket


@pytest.fixture(params=["postgresql+s3", "server"])
def shared(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> CacheStore:
    """The company's shared store, as the victim's process opens it."""
    if request.param == "server":
        server: StoreServer = request.getfixturevalue("store_server")
        monkeypatch.setenv("LINEAGE_STORE_URL", server.url)
        monkeypatch.setenv("LINEAGE_STORE_TOKEN", server.token)
    else:
        request.getfixturevalue("s3_server")
        monkeypatch.setenv("LINEAGE_STORE_URL", request.getfixturevalue("pg_server").create_database())
        monkeypatch.setenv("LINEAGE_ARTIFACTS_URL", f"s3://{new_bucket('s3')}/lineage")
    return default_store()


def plant(store: CacheStore, step: Any, args: tuple[Any, ...], materializer: str, meta: dict[str, Any],
          payload: bytes) -> str:
    """What an attacker with write access does: a blob of its choosing, then the entry for the step's key."""
    manifest = step.manifest(*args)
    key = manifest.key()
    job_id = store.job_id(manifest.scope, step.name)
    run_id = new_run_id()
    store.insert_run(id=run_id, job_id=job_id, status="RUNNING", cache_key=key, started_at=time.time(),
                     reasons=[], context={})
    store.finish_run(run_id, status="COMPLETED")
    tmp = store.artifacts.new_temp_path()
    Path(tmp).write_bytes(payload)
    record = store.artifacts.publish(tmp)
    store.tombstone(key)
    store.put_entry(key, job_id, manifest.to_dict(), run_id, record, materializer, meta, None)
    assert store.lookup(key) is not None and store.lookup(key).materializer == materializer  # type: ignore[union-attr]
    return key


class _Boom:
    """Unpickling this creates a file: the proof that the store ran code on the client."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


STEPS = """
from pathlib import Path
from lineage_core import cached

CALLS = []

@cached
def plus_one(x: int) -> int:
    CALLS.append(x)
    return x + 1

@cached
def raw(n: int) -> bytes:
    CALLS.append(n)
    return b"x" * n

@cached
def untyped(n):
    CALLS.append(n)
    return [n]

@cached
def write_dir(d: str) -> Path:
    CALLS.append(d)
    out = Path(d) / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "a.txt").write_text("mine")
    return out
"""


@pytest.fixture
def steps(make_module: Callable[..., ModuleType]) -> ModuleType:
    return make_module(STEPS)


def test_a_planted_pickle_never_runs_on_a_step_that_did_not_opt_in(
    shared: CacheStore, steps: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    marker = tmp_path / "pwned"
    key = plant(shared, steps.plus_one, (1,), "pickle@1", {}, pickle.dumps(_Boom(marker)))
    with caplog.at_level(logging.WARNING, logger="lineage_core"):
        assert steps.plus_one(1) == 2
    assert not marker.exists()  # nothing was unpickled
    out = explain(steps.plus_one)
    assert not out.hit and steps.CALLS == [1] and "pickle" in out.reasons[0]
    assert any("pickle" in r.getMessage() and "discarded" in r.getMessage() for r in caplog.records)
    assert shared.lookup(key).materializer != "pickle@1"  # type: ignore[union-attr]  # recomputed and replaced
    assert steps.plus_one(1) == 2 and explain(steps.plus_one).hit


def test_an_unregistered_materializer_is_a_miss(shared: CacheStore, steps: ModuleType) -> None:
    plant(shared, steps.untyped, (3,), "evil-plugin@9", {}, b"whatever")
    assert steps.untyped(3) == [3] and not explain(steps.untyped).hit
    assert "not registered in this process" in explain(steps.untyped).reasons[0]


def test_an_entry_of_another_type_than_the_step_returns_is_a_miss(shared: CacheStore, steps: ModuleType) -> None:
    plant(shared, steps.raw, (4,), "json@1", {}, json.dumps({"not": "bytes"}).encode())
    value = steps.raw(4)
    assert value == b"xxxx" and isinstance(value, bytes) and not explain(steps.raw).hit
    assert "returns bytes" in explain(steps.raw).reasons[0]
    plant(shared, steps.plus_one, (5,), "str@1", {}, b"6")
    assert steps.plus_one(5) == 6 and not explain(steps.plus_one).hit


@pytest.mark.parametrize("name", ["../../escaped", "/abs/escaped", "..", ""])
def test_a_path_entry_restores_only_under_the_clients_directory(
    shared: CacheStore, steps: ModuleType, tmp_path: Path, name: str,
) -> None:
    target = tmp_path / "victim" / "elsewhere" / "target"
    meta = {"original": str(target), "name": name, "kind": "file", "content_hash": "blake3:" + "0" * 64}
    plant(shared, steps.write_dir, (str(tmp_path / "w"),), "path@2", meta, b"planted")
    restored = steps.write_dir(str(tmp_path / "w"))
    assert explain(steps.write_dir).hit  # a well-formed file entry: served, but where the client says
    home = shared.home / "materialized"
    assert restored.resolve().is_relative_to(home.resolve()) and restored.read_bytes() == b"planted"
    assert not target.exists() and not target.parent.exists()
    assert not (tmp_path / "escaped").exists() and not Path("/abs/escaped").exists()


def test_a_tree_entry_cannot_name_files_outside_its_directory(shared: CacheStore, steps: ModuleType,
                                                              tmp_path: Path) -> None:
    from lineage_core.hashing.content import hash_bytes

    member = b"evil"
    tmp = shared.artifacts.new_temp_path()
    Path(tmp).write_bytes(member)
    shared.artifacts.publish(tmp)
    manifest = {"name": "out", "files": [["../../../outside.txt", hash_bytes(member), False]]}
    meta = {"original": str(tmp_path / "victim"), "name": "out", "kind": "tree", "members": [hash_bytes(member)]}
    plant(shared, steps.write_dir, (str(tmp_path / "w2"),), "path@2", meta, json.dumps(manifest).encode())
    restored = steps.write_dir(str(tmp_path / "w2"))
    assert not explain(steps.write_dir).hit and (restored / "a.txt").read_text() == "mine"
    assert not list(tmp_path.rglob("outside.txt")) and not list(shared.home.rglob("outside.txt"))


def test_a_path_result_comes_back_where_the_step_put_it_and_hits_restore_privately(
    steps: ModuleType, tmp_path: Path,
) -> None:
    """The honest path: the miss returns the step's own directory; a hit (its directory gone) restores
    under LINEAGE_HOME/materialized, never at the location recorded in the entry."""
    import shutil

    first = steps.write_dir(str(tmp_path / "w"))
    assert first == (tmp_path / "w" / "out").resolve() and not explain(steps.write_dir).hit
    shutil.rmtree(first)
    again = steps.write_dir(str(tmp_path / "w"))
    assert explain(steps.write_dir).hit and (again / "a.txt").read_text() == "mine"
    assert not first.exists() and again.resolve().is_relative_to((default_store().home / "materialized").resolve())


def test_policy_edges_any_and_references(make_module: Callable[..., ModuleType]) -> None:
    """``-> Any`` constrains nothing; a pickled upstream value passed by reference loads only into a step that
    opted in to pickle (the receiving step decides, as for its own hits)."""
    m = make_module("from typing import Any\nfrom lineage_core import cached\n"
                    "class Box:\n    def __init__(self, v):\n        self.v = v\n"
                    "@cached\ndef anything(x) -> Any:\n    return {'x': x}\n"
                    "@cached(pickle=True)\ndef boxed(x):\n    return Box(x)\n"
                    "@cached(pickle=True)\ndef unbox(b):\n    return b.v\n"
                    "@cached\ndef unbox_strict(b):\n    return b.v\n")
    assert m.anything(1) == {"x": 1} and m.anything(1) == {"x": 1} and explain(m.anything).hit
    ref = m.boxed.ref(7)
    assert ref.materializer == "pickle@1"
    assert m.unbox(ref) == 7
    from lineage_core.errors import MaterializerError

    with pytest.raises(MaterializerError, match="did not opt in to pickle"):
        m.unbox_strict(ref)
