"""A hit on the server store is one request: the entry and the CACHED run together (``POST /hits/{key}``), with a
fresh pod's job and environment in it too, counted at a real `lineage serve`; what a refused or mixed-version hit
does."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

from lineage_core import explain, runtime
from lineage_core.store import RemoteStore
from lineage_core.store.schema import jobs

from .remote_store_setup import AUTH, TOKEN, Remote, delta, fresh_process, store_requests

pytestmark = pytest.mark.slow  # a server per test (the store contract covers RemoteStore in the fast loop)


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
    # a fresh process: connecting asks nothing, and its first hit names its job and sends its environment in the
    # hit itself, so it is one request; the large blob comes from the node's cache, still one request
    fresh_process()
    before = store_requests(remote)
    assert mod.small(3) == {"n": 3} and explain(mod.small).hit
    assert delta(store_requests(remote), before) == {("POST", "/api/v1/store/hits/{key}"): 1}
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
    """The hit path of a pod on the server store is a socket (store.wire): no requests (or urllib3), not even
    http.client (7-22 ms to import), no ssl for an http URL, no SQLAlchemy, fsspec or pydantic (the task's process
    never needs them for a hit)."""
    import subprocess
    import sys

    mod = make_module(ONE_REQUEST_STEPS)
    assert mod.small(5) == {"n": 5}
    code = (f"import sys; sys.path.insert(0, {str(Path(mod.__file__).parent)!r}); import {mod.__name__} as m; "
            "from lineage_core import explain; assert m.small(5) == {'n': 5}; "
            "print(explain(m.small).hit, sorted(n for n in ('requests', 'urllib3', 'http.client', 'ssl', "
            "'sqlalchemy', 'fsspec', 'pydantic', 'numpy', 'pandas', 'openlineage') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "[]"]
