"""The lineage server as a cache store: a real `lineage serve` off loopback with a token, on both database
backends; the client side holds only its URL and the token, as a KFP or Kubernetes pod does."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

from lineage_core import explain, runtime
from lineage_core.commands import CommandStep
from lineage_core.errors import ConfigError
from lineage_core.hashing.content import hash_bytes
from lineage_core.hashing.remote import RemoteStat
from lineage_core.store import RemoteStore, Store
from lineage_core.store.schema import jobs

from .services.lineage_server import Server
from .test_commands import exec_in_pod, spec
from .test_singleflight import log_lines, results, spawn

pytestmark = pytest.mark.slow  # a server per test (the store contract covers RemoteStore in the fast loop)

TOKEN = "s3cr3t-t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Remote:
    server: Server
    db_url: str
    home: Path  # the server's LINEAGE_HOME: its artifacts live here
    client_home: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def db(self) -> Store:
        """The server's own store, opened directly, to check what the API wrote."""
        return Store.from_url(self.db_url, (self.home / "artifacts").as_uri())

    def blobs(self) -> list[Path]:
        return sorted(p for p in (self.home / "artifacts" / "blobs").rglob("*") if p.is_file())


def fresh_process() -> None:
    """Forget the open stores, as a new task's process would start without them."""
    for store in list(runtime._stores.values()):
        store.close()
    runtime._stores.clear()
    runtime._store_by_env.clear()


@pytest.fixture
def remote(backend: str, lineage_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Remote]:
    server = Server({"LINEAGE_SERVER_TOKENS": TOKEN}, host="0.0.0.0")  # off loopback: the token is required
    client_home = tmp_path / "pod-home"
    monkeypatch.setenv("LINEAGE_STORE_URL", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("LINEAGE_STORE_TOKEN", TOKEN)
    monkeypatch.setenv("LINEAGE_HOME", str(client_home))
    yield Remote(server, backend, lineage_home, client_home)
    fresh_process()
    server.stop()
    assert TOKEN not in (server.proc.stderr.read() if server.proc.stderr else "")


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


def store_requests(remote: Remote) -> dict[tuple[str, str], float]:
    """Requests the server answered on its store routes, by (method, route template), from its /metrics."""
    from .test_metrics import scrape

    samples = scrape(remote.server, TOKEN).items()
    return {(dict(labels)["method"], dict(labels)["route"]): v for (name, labels), v in samples
            if name == "lineage_http_request_duration_seconds_count" and "/api/v1/store" in dict(labels)["route"]}


def delta(after: dict[tuple[str, str], float], before: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


ONE_REQUEST_STEPS = """
    from lineage_core import cached

    @cached
    def small(n: int) -> dict:
        return {"n": n}

    @cached
    def large(n: int) -> bytes:
        return bytes(range(256)) * n  # far over what a hit's answer carries inline: read from the blob cache
"""


def test_a_warm_hit_is_one_request_counted_at_the_server(
    remote: Remote, make_module: Callable[..., ModuleType],
) -> None:
    mod = make_module(ONE_REQUEST_STEPS)
    assert mod.small(3) == {"n": 3} and mod.large(4000) == bytes(range(256)) * 4000  # misses: computed, stored
    assert mod.small(3) == {"n": 3} and mod.large(4000) == bytes(range(256)) * 4000  # the first hits
    for step, call in ((mod.small, lambda: mod.small(3)), (mod.large, lambda: mod.large(4000))):
        before = store_requests(remote)
        call()
        assert explain(step).hit
        assert delta(store_requests(remote), before) == {("POST", "/api/v1/store/hits/{key}"): 1}
    # the CACHED runs are recorded as before: their source run, the reason, this process's environment
    db = remote.db()
    try:
        run = db.get_run(explain(mod.large).run_id)
        assert run["status"] == "CACHED" and run["source_run_id"] == explain(mod.large).source_run_id
        assert run["reasons"] == explain(mod.large).reasons and run["environment_hash"]
    finally:
        db.close()
    # a fresh process: its first hit names its job and sends its environment in the hit itself, so after
    # connecting it is one request; the large blob comes from the node's cache, still one request
    fresh_process()
    before = store_requests(remote)
    assert mod.small(3) == {"n": 3} and explain(mod.small).hit
    assert delta(store_requests(remote), before) == {("GET", "/api/v1/store"): 1,
                                                     ("POST", "/api/v1/store/hits/{key}"): 1}
    before = store_requests(remote)
    assert mod.large(4000) == bytes(range(256)) * 4000 and explain(mod.large).hit
    assert delta(store_requests(remote), before) == {("POST", "/api/v1/store/hits/{key}"): 1}
    db = remote.db()
    try:  # what the hit named is what the server stored: the job, and the environment the run points at
        run = db.get_run(explain(mod.small).run_id)
        assert run["status"] == "CACHED" and run["job"] == explain(mod.small).job
        assert db.get_environment(run["environment_hash"]) is not None
    finally:
        db.close()


def test_a_hit_names_one_job_and_only_the_environment_its_hash_names(remote: Remote) -> None:
    """The fields a fresh pod's hit may carry are checked before anything is kept: one job (by id or by names), an
    environment only with the hash that names it; a refused hit creates no job and keeps no environment."""
    from lineage_core.environment import capture_environment

    env = capture_environment()
    key = "blake3:" + "4" * 64

    def hit(**fields: object) -> tuple[int, object]:
        body = {"run_id": str(uuid.uuid4()), "started_at": 1.0, **fields}
        return remote.server.request("POST", f"/api/v1/store/hits/{key}", json.dumps(body).encode(), AUTH)

    job = {"namespace": "pods", "name": "first-hit"}
    assert hit()[0] == 422 and hit(job_id=1, job=job)[0] == 422  # no job, two of them
    assert hit(job=job, environment=env.to_dict())[0] == 422  # no hash names it
    assert hit(job=job, environment_hash="blake3:" + "0" * 64, environment=env.to_dict())[0] == 422  # not its hash
    db = remote.db()
    try:
        with db.engine.connect() as c:
            named = c.execute(sa.select(jobs.c.id).where(jobs.c.name == "first-hit")).all()
        assert db.get_environment(env.content_hash) is None and named == []
    finally:
        db.close()
    status, body = hit(job=job, environment_hash=env.content_hash, environment=env.to_dict())
    assert status == 200 and body["entry"] is None and isinstance(body["job_id"], int)  # a miss, its job resolved
    db = remote.db()
    try:
        assert db.get_environment(env.content_hash) == env and db.job_id("pods", "first-hit") == body["job_id"]
    finally:
        db.close()


def test_a_replica_that_refuses_the_named_job_gets_the_registered_one(
    remote: Remote, make_module: Callable[..., ModuleType],
) -> None:
    """During a rollout a Service may send a pod's hit to a replica from before ``hit_fields``, which answers a named
    job 422 (it requires ``job_id``). The client then registers the job and the environment first, as it would with
    that server from the start, and the hit goes through. (The refusal is made by the real server: the wrapped call
    adds a ``job_id`` beside the named job, which it refuses 422 as the older one refuses a missing ``job_id``.)"""
    mod = make_module(ONE_REQUEST_STEPS)
    assert mod.small(5) == {"n": 5}  # the miss that stores it
    fresh_process()
    store = runtime.default_store()
    assert isinstance(store, RemoteStore) and store._hit_fields == {"job", "environment"}
    call = store.client.call

    def older_replica(method: str, path: str, **kw: Any) -> Any:
        body = kw.get("json")
        if method == "POST" and path.startswith("/hits/") and isinstance(body, dict) and "job" in body:
            kw["json"] = {**body, "job_id": 1}
        return call(method, path, **kw)

    store.client.call = older_replica  # type: ignore[method-assign]
    from .test_metrics import scrape

    def answered() -> Counter[tuple[str, str, str]]:
        return Counter({(d["method"], d["route"], d["status"]): v for (name, labels), v in scrape(remote.server, TOKEN)
                        .items() if name == "lineage_http_request_duration_seconds_count" and (d := dict(labels))})

    before = answered()
    assert mod.small(5) == {"n": 5} and explain(mod.small).hit
    after = answered()
    after.subtract(before)
    assert +after == Counter({("POST", "/api/v1/store/hits/{key}", "4xx"): 1, ("POST", "/api/v1/store/jobs", "2xx"): 1,
                              ("PUT", "/api/v1/store/environments/{env_hash}", "2xx"): 1,
                              ("POST", "/api/v1/store/hits/{key}", "2xx"): 1, ("GET", "/metrics", "2xx"): 1})
    assert store._hit_fields == frozenset()  # from now on as with that server
    db = remote.db()
    try:
        run = db.get_run(explain(mod.small).run_id)
        assert run["status"] == "CACHED" and db.get_environment(run["environment_hash"]) is not None
    finally:
        db.close()


def test_a_hit_the_client_refuses_ends_its_recorded_run_failed(
    remote: Remote, make_module: Callable[..., ModuleType],
) -> None:
    """The server records the CACHED run with the lookup; a blob that fails verification on the client takes it
    back (FAILED, saying why), tombstones the entry and recomputes: never the damaged value."""
    mod = make_module(ONE_REQUEST_STEPS)
    assert mod.large(1000) == bytes(range(256)) * 1000
    (blob,) = remote.blobs()
    blob.chmod(0o644)
    blob.write_bytes(b"x" * blob.stat().st_size)
    fresh_process()
    for cached in (remote.client_home / "blob-cache" / "blobs").rglob("*"):  # another node: nothing cached
        if cached.is_file():
            cached.unlink()
    assert mod.large(1000) == bytes(range(256)) * 1000 and not explain(mod.large).hit
    db = remote.db()
    try:
        refused = [r for r in db.runs(job=explain(mod.large).job) if r["status"] == "FAILED"]
        assert len(refused) == 1 and "refused" in refused[0]["error"] and "failed verification" in refused[0]["error"]
        assert db.get_run(explain(mod.large).run_id)["status"] == "COMPLETED"
    finally:
        db.close()


def test_a_fresh_processs_hit_on_the_server_store_imports_no_heavy_client(
    remote: Remote, make_module: Callable[..., ModuleType], tmp_path: Path,
) -> None:
    """The hit path of a pod on the server store is http.client: no requests (or urllib3), no SQLAlchemy, fsspec or
    pydantic (the task's process never needs them for a hit)."""
    import subprocess
    import sys

    mod = make_module(ONE_REQUEST_STEPS)
    assert mod.small(5) == {"n": 5}
    code = (f"import sys; sys.path.insert(0, {str(Path(mod.__file__).parent)!r}); import {mod.__name__} as m; "
            "from lineage_core import explain; assert m.small(5) == {'n': 5}; "
            "print(explain(m.small).hit, sorted(n for n in ('requests', 'urllib3', 'sqlalchemy', 'fsspec', 'pydantic', "
            "'numpy', 'pandas', 'openlineage') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "[]"]
