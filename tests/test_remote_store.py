"""The lineage server as a cache store: a real `lineage serve` off loopback with a token, on both database
backends; the client side holds only its URL and the token, as a KFP or Kubernetes pod does."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from lineage_core import explain
from lineage_core.commands import CommandStep
from lineage_core.errors import ConfigError
from lineage_core.hashing.content import hash_bytes
from lineage_core.hashing.remote import RemoteStat
from lineage_core.store import RemoteStore

from .remote_store_setup import AUTH, TOKEN, Remote, fresh_process
from .test_commands import exec_in_pod, spec
from .test_singleflight import log_lines, results, spawn

pytestmark = pytest.mark.slow  # a server per test (the store contract covers RemoteStore in the fast loop)

STEPS = """
    from pathlib import Path
    from lineage_core import cached

    LOG = Path(__file__).with_name("calls.log")

    @cached
    def stats(values: list, scale: int) -> dict:
        with LOG.open("a") as f:
            f.write("stats\\n")
        return {"sum": sum(values) * scale, "n": len(values)}

    @cached
    def export(n: int, out: str) -> Path:
        with LOG.open("a") as f:
            f.write("export\\n")
        d = Path(out)
        (d / "shards").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (d / "shards" / f"{i}.txt").write_text(f"shard {i}\\n" * (i + 1))
        (d / "README").write_text("same bytes in every tree\\n")
        return d
"""


def calls(mod: ModuleType) -> list[str]:
    return log_lines(Path(mod.__file__).with_name("calls.log"))


def test_a_step_on_the_server_store_hits_from_a_fresh_process_and_keeps_nothing_local(
    remote: Remote, make_module: Callable[..., ModuleType], tmp_path: Path,
) -> None:
    mod = make_module(STEPS)
    out = tmp_path / "exported"
    assert mod.stats([1, 2, 3], scale=2) == {"sum": 12, "n": 3}
    tree = mod.export(3, str(out))
    assert not explain(mod.export).hit and calls(mod) == ["stats", "export"]
    first = {p.relative_to(tree): p.read_bytes() for p in tree.rglob("*") if p.is_file()}

    fresh_process()
    shutil.rmtree(out)  # the next pod does not have the directory: it must come back from the server
    assert mod.stats([1, 2, 3], scale=2) == {"sum": 12, "n": 3}
    restored = mod.export(3, str(out))
    assert explain(mod.export).hit and calls(mod) == ["stats", "export"]  # nothing ran again
    assert {p.relative_to(restored): p.read_bytes() for p in restored.rglob("*") if p.is_file()} == first

    db = remote.db()
    try:
        runs = db.runs(limit=10)
        assert Counter((r["job"].rsplit(".", 1)[1], r["status"]) for r in runs) == {
            ("stats", "COMPLETED"): 1, ("stats", "CACHED"): 1, ("export", "COMPLETED"): 1, ("export", "CACHED"): 1,
        }
        hit = next(r for r in runs if r["status"] == "CACHED" and r["job"].endswith("export"))
        assert db.get_run(hit["source_run_id"])["status"] == "COMPLETED" and hit["environment_hash"]
        entry = db.lookup(hit["cache_key"])
        assert entry is not None and entry.materializer.startswith("path@")
    finally:
        db.close()
    # stats' value, the tree's manifest and its 4 distinct member files, all on the server
    assert len(remote.blobs()) == 6
    assert not (remote.client_home / "artifacts").exists() and not (remote.client_home / "lineage.db").exists()
    # the server's own lineage shows the pod's runs, as for any other producer
    status, body = remote.server.request("GET", "/api/v1/events/lineage?limit=100", None, AUTH)
    assert status == 200
    assert Counter(e["eventType"] for e in body["events"] if e["job"]["name"].endswith(".export")) == {
        "START": 2, "COMPLETE": 2,
    }


def test_the_token_is_required_checked_first_and_never_echoed(
    remote: Remote, make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch,
) -> None:
    mod = make_module(STEPS)
    monkeypatch.setenv("LINEAGE_STORE_TOKEN", "wrong-token")
    with pytest.raises(ConfigError, match=r"refused the request \(401.*LINEAGE_STORE_TOKEN") as e:
        mod.stats([1], scale=1)
    assert "wrong-token" not in str(e.value) and TOKEN not in str(e.value)
    monkeypatch.delenv("LINEAGE_STORE_TOKEN")
    monkeypatch.setenv("OPENLINEAGE_API_KEY", TOKEN)  # the token a task's events already use also works
    assert mod.stats([1], scale=1) == {"sum": 1, "n": 1}
    fresh_process()
    monkeypatch.setenv("LINEAGE_ARTIFACTS_URL", "s3://bucket/artifacts")
    with pytest.raises(ConfigError, match="unset LINEAGE_ARTIFACTS_URL"):
        mod.stats([1], scale=1)
    assert calls(mod) == ["stats"]
    assert remote.server.request("GET", "/api/v1/store/entries/blake3:" + "0" * 64)[0] == 401


def test_the_server_refuses_what_would_corrupt_the_cache(remote: Remote) -> None:
    def call(method: str, path: str, body: bytes | None = None) -> tuple[int, object]:
        return remote.server.request(method, f"/api/v1/store{path}", body, AUTH)

    digest = hash_bytes(b"the real bytes")
    status, body = call("PUT", f"/blobs/{digest}", b"other bytes")
    assert status == 422 and "nothing stored" in str(body)
    assert remote.blobs() == [] and os.listdir(remote.home / "artifacts" / "tmp") == []
    assert call("GET", f"/blobs/{digest}")[0] == 404

    store = RemoteStore.connect(remote.url)
    try:
        job = store.job_id("default", "refusals")
        entry = {"job_id": job, "manifest": {}, "run_id": "r1", "artifact_hash": digest, "materializer": "json@1",
                 "meta": {}, "value_hash": None}
        status, body = call("PUT", f"/entries/{digest}", json.dumps(entry).encode())
        assert status == 409 and "upload the blob first" in str(body)
        assert store.lookup(digest) is None
        assert call("GET", "/blobs/blake3:..%2F..%2Flineage.db")[0] in (400, 404)
        assert call("GET", "/entries/not-a-key")[0] == 400
        status, body = call("PUT", f"/environments/{digest}", json.dumps({"python": "3.11"}).encode())
        assert status == 422
        # a correct upload is kept, and an entry may then point at it
        assert call("PUT", f"/blobs/{digest}", b"the real bytes")[0] == 201
        assert call("PUT", f"/entries/{digest}", json.dumps(entry).encode())[0] == 204
        found = store.lookup(digest)
        assert found is not None and found.artifact_hash == digest
        assert store.artifacts.read_verified(digest) == b"the real bytes"
    finally:
        store.close()


def test_a_blob_damaged_on_the_server_is_a_miss_and_is_repaired(
    remote: Remote, make_module: Callable[..., ModuleType], caplog: pytest.LogCaptureFixture,
) -> None:
    mod = make_module(STEPS)
    assert mod.stats([5, 5], scale=1) == {"sum": 10, "n": 2}
    (blob,) = remote.blobs()
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b"10", b"99"))  # same size, wrong content
    fresh_process()
    assert mod.stats([5, 5], scale=1) == {"sum": 10, "n": 2}  # recomputed, never the damaged value
    assert not explain(mod.stats).hit and any("failed verification" in r for r in explain(mod.stats).reasons)
    assert "discarded" in caplog.text
    fresh_process()
    assert mod.stats([5, 5], scale=1) == {"sum": 10, "n": 2} and explain(mod.stats).hit
    assert calls(mod) == ["stats", "stats"]


def test_single_flight_through_the_server(remote: Remote, tmp_path: Path) -> None:
    import time

    env = {"SF_LOG": str(tmp_path / "computed.log"), "SF_START_AT": str(time.time() + 3.0)}
    outs = results([spawn(["slow", "7", "1.0"], env) for _ in range(4)])
    assert [line.split()[:2] for line in log_lines(tmp_path / "computed.log")] == [["slow", "7"]]
    assert {o["value"] for o in outs} == {14} and sorted(o["hit"] for o in outs) == [False, True, True, True]
    db = remote.db()
    try:
        runs = db.runs(job="sf.slow")
        assert Counter(r["status"] for r in runs) == {"COMPLETED": 1, "CACHED": 3}
        assert db.lease(str(runs[0]["cache_key"])) is None  # released through the API
    finally:
        db.close()


def test_remote_object_hashes_are_shared_and_local_ones_stay_in_the_pod(remote: Remote) -> None:
    store = RemoteStore.connect(remote.url)
    digest = hash_bytes(b"x")
    try:
        store.put_remote([("s3://data/train.parquet", RemoteStat(10, "etag-1", "v1"), digest)])
        assert store.get_remote(["s3://data/train.parquet", "s3://data/other"]) == {
            "s3://data/train.parquet": (RemoteStat(10, "etag-1", "v1"), digest),
        }
        from lineage_core.hashing.content import StatKey

        store.put_many([("/pod/data.csv", StatKey(1, 2, 3, 4, 5), digest)])
        assert store.get_under("/pod") == {"/pod/data.csv": (StatKey(1, 2, 3, 4, 5), digest)}
    finally:
        store.close()
    db = remote.db()
    try:
        assert db.get_remote(["s3://data/train.parquet"])["s3://data/train.parquet"][1] == digest
        assert db.get_many(["/pod/data.csv"]) == {}  # a pod's paths mean nothing on the server
    finally:
        db.close()


def test_a_pod_with_only_the_server_url_and_token_registers_its_command(remote: Remote, tmp_path: Path) -> None:
    """``lineage exec`` in a KubernetesPodOperator pod: the orchestrator decides on the database; the pod, which
    holds no database URL, records its result and outputs through the server."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "train.csv").write_text("x,y\n1,2\n")
    db = remote.db()
    try:
        step = CommandStep(spec(tmp_path), db)
        plan = step.begin(step.check())
        code, result = exec_in_pod(plan, step.spec.command, tmp_path, LINEAGE_STORE_URL=remote.url,
                                   LINEAGE_STORE_TOKEN=TOKEN)
        assert code == 0 and result["status"] == "COMPLETED"
        assert db.get_run(plan.run_id)["status"] == "COMPLETED"
        entry = db.lookup(step.key)
        assert entry is not None and entry.run_id == plan.run_id
        assert CommandStep(spec(tmp_path), db).check().hit
    finally:
        db.close()
