"""Hostile input against a real, token-protected ``lineage serve`` (off loopback) on SQLite and on PostgreSQL:
every route × every class of bad input, generated below. Each answer is the 4xx (or 2xx) specified, with
Marquez's ``{code, message, details}`` body, never a 5xx; ``/healthz`` answers after each; and nothing a
refused request carried is stored: every table (but the audit trail, which records refusals by design, and the
sync watermark) and the artifact tree are exactly what they were before it.

One case per class runs in the fast loop; the whole matrix is marked slow.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lineage_core.hashing import hash_bytes
from lineage_core.store import Store
from lineage_core.store import schema as t

from .conftest import BACKENDS
from .hostile_cases import (
    AUTH,
    CASES,
    ENV,
    EVENT_SHAPES,
    JOB,
    NS,
    PATH_ROUTES,
    PATH_VALUES,
    QUERY_ROUTES,
    QUERY_VALUES,
    RUN,
    TOKEN,
    UNCHECKED,
    Case,
    event,
)
from .services.lineage_server import Server
from .services.postgres import PostgresServer


# -- the server, seeded, and what it stores -----------------------------------------------------------
def send(server: Server, method: str, path: str, body: bytes | None = None, headers: dict[str, Any] | None = None,
         token: bytes | None = AUTH) -> tuple[int, bytes]:
    """One raw request, the path sent exactly as given (percent-encoded by the case), the token as raw bytes."""
    h: dict[str, Any] = {"Authorization": token} if token is not None else {}
    if body is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@dataclass
class Target:
    server: Server
    store: Store  # the server's own database, read from the test process
    home: Path
    job_id: int = 0
    key: str = hash_bytes(b"hostile key")
    digest: str = hash_bytes(b"seeded bytes")
    baseline: tuple[Any, ...] = ()

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict[str, Any] | None = None,
             token: bytes | None = AUTH) -> tuple[int, bytes]:
        return send(self.server, method, path, body, headers, token)

    def fingerprint(self) -> tuple[Any, ...]:
        """Every stored row (but :data:`UNCHECKED`) and every file under the artifact root."""
        with self.store.engine.connect() as c:
            rows = tuple((table.name, sorted(repr(tuple(r)) for r in c.execute(sa.select(table))))
                         for table in t.metadata.sorted_tables if table.name not in UNCHECKED)
        files = sorted(str(p.relative_to(self.home)) for p in (self.home / "artifacts").rglob("*") if p.is_file())
        return rows, tuple(files)


def start(home: Path, url: str, artifacts: Path | None = None) -> Server:
    artifacts = artifacts or home / "artifacts"
    return Server({"LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": url, "LINEAGE_ARTIFACTS_URL": artifacts.as_uri(),
                   "LINEAGE_SERVER_TOKENS": TOKEN}, host="0.0.0.0")


def store_url(backend: str, request: pytest.FixtureRequest, home: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{home / 'lineage.db'}"
    pg: PostgresServer = request.getfixturevalue("pg_server")
    return pg.create_database()


def seed(target: Target) -> None:
    """A job, a run, an environment, a blob and an entry through the store API, and a foreign producer's event."""
    def ok(method: str, path: str, payload: Any = None, raw: bytes | None = None) -> bytes:
        body = raw if raw is not None else json.dumps(payload).encode() if payload is not None else None
        headers = {"Content-Type": "application/octet-stream"} if raw is not None else None
        status, answer = target.send(method, path, body, headers)
        assert status in (200, 201, 204), (path, status, answer)
        return answer

    ok("POST", "/api/v1/lineage", event())
    target.job_id = json.loads(ok("POST", "/api/v1/store/jobs", {"namespace": NS, "name": JOB}))["id"]
    ok("PUT", f"/api/v1/store/environments/{ENV.content_hash}", ENV.to_dict())
    ok("PUT", f"/api/v1/store/blobs/{target.digest}", raw=b"seeded bytes")
    ok("POST", "/api/v1/store/runs", {"id": RUN, "job_id": target.job_id, "status": "RUNNING", "started_at": 1.0,
                                      "environment_hash": ENV.content_hash})
    ok("PUT", f"/api/v1/store/entries/{target.key}", {
        "job_id": target.job_id, "manifest": {"n": 1}, "run_id": RUN, "artifact_hash": target.digest,
        "materializer": "bytes@1", "meta": {}, "value_hash": None})
    ok("GET", "/api/v1/namespaces")  # the first read syncs our run into the lineage tables; later reads find it


@pytest.fixture(scope="module", params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    home = tmp_path_factory.mktemp(f"hostile-{request.param}")
    url = store_url(request.param, request, home)
    server = start(home, url)
    tgt = Target(server, Store.from_url(url, (home / "artifacts").as_uri(), migrate=False), home)
    try:
        seed(tgt)
        tgt.baseline = tgt.fingerprint()
        yield tgt
    finally:
        tgt.store.close()
        server.stop()


def _concrete(target: Target, text: str) -> str:
    return text.replace("{key}", target.key).replace("{digest}", target.digest).replace("{job_id}", str(target.job_id))


def _body(target: Target, case: Case) -> bytes | None:
    if case.body is None:
        return None
    body = case.body.replace(b'"{job_id}"', str(target.job_id).encode())
    body = body.replace(b"{new_run}", str(uuid.uuid4()).encode())
    return _concrete(target, body.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def check(target: Target, case: Case) -> None:
    status, raw = target.send(case.method, _concrete(target, case.path), _body(target, case), case.headers, case.token)
    assert status == case.expect, (status, raw[:500])
    if status >= 400 and case.method != "HEAD":
        body = json.loads(raw)
        assert set(body) == {"code", "message", "details"} and body["code"] == status, body
        assert isinstance(body["message"], str) and 0 < len(body["message"]) <= 2001
    assert target.send("GET", "/healthz", token=None) == (200, b'{"status":"ok"}')
    assert target.fingerprint() == target.baseline, f"{case.id} changed what the store holds"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=() if c.fast else pytest.mark.slow) for c in CASES])
def test_hostile_input_is_refused_and_nothing_is_stored(target: Target, case: Case) -> None:
    check(target, case)


def test_the_matrix_covers_every_class_on_every_route() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 400
    assert all(f"path-{cls}-{method}-{path}" in ids for cls in PATH_VALUES for method, path in PATH_ROUTES)
    assert all(f"query-{cls}-{path}" in ids for cls in QUERY_VALUES for path in QUERY_ROUTES)
    ingest = ("/api/v1/lineage", "/api/v1/lineage/batch")
    assert all(f"event-{cls}-{path}" in ids for cls in EVENT_SHAPES for path in ingest)
    assert sum(c.fast for c in CASES) >= 40
    assert {c.expect for c in CASES} == {200, 201, 400, 401, 413, 415, 422}


