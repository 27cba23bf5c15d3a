"""Scoped tokens and the audit trail, against a real ``lineage serve`` off loopback.

- every route of the app's own route table declares exactly the scope this file expects (a new route without a
  scope dependency, or one this file does not know, fails), and a real server admits to it only a token with
  that scope (401 without a token, 403 with another scope), with anonymous read opening only the Marquez read API;
- namespace-limited tokens: 403 on writes outside their globs and on reads of what lies outside, 403 on routes
  that answer across namespaces, content-addressed data open;
- bare tokens keep their meaning (every scope), are named token-N, and no secret reaches the log, the database
  or an answer; rotation with two tokens of one name;
- every kind of write leaves an audit row (who, what, outcome) on SQLite and PostgreSQL, and ``lineage audit``
  and ``GET /api/v1/audit`` show it with their filters.
"""

from __future__ import annotations

import json
import re
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage_core.environment import capture_environment
from lineage_core.errors import ConfigError
from lineage_core.hashing.content import StreamingHasher
from lineage_core.server.app import create_app
from lineage_core.server.auth import ADMIN, CACHE, INGEST, LINEAGE, READ, Need, Scope, every_namespace, parse_tokens
from lineage_core.store import Store

from .services.lineage_server import Server

pytestmark = pytest.mark.slow  # starts lineage servers

L, R, IN, C, A = "lineage", "read", "ingest", "cache", "admin"  # LINEAGE is the read scope, open anonymously
SPANS = "spans"  # the route also declares every_namespace
EXPECTED: dict[tuple[str, str], tuple[str | None, ...]] = {
    ("POST", "/api/v1/lineage"): (IN,), ("POST", "/api/v1/lineage/batch"): (IN,),
    ("GET", "/api/v1/events/lineage"): (L, SPANS), ("GET", "/healthz"): (None,), ("GET", "/readyz"): (None,),
    # the Marquez read API
    ("GET", "/api/v1/namespaces"): (L, SPANS), ("GET", "/api/v1/namespaces/{namespace}"): (L,),
    ("GET", "/api/v1/jobs"): (L, SPANS), ("GET", "/api/v1/namespaces/{namespace}/jobs"): (L,),
    ("GET", "/api/v1/namespaces/{namespace}/jobs/{job}"): (L,),
    ("GET", "/api/v1/namespaces/{namespace}/jobs/{job}/runs"): (L,),
    ("GET", "/api/v1/namespaces/{namespace}/jobs/{job}/versions"): (L,), ("GET", "/api/v1/jobs/runs/{run_id}"): (L,),
    ("GET", "/api/v1/jobs/runs/{run_id}/facets"): (L,), ("GET", "/api/v1/namespaces/{namespace}/datasets"): (L,),
    ("GET", "/api/v1/namespaces/{namespace}/datasets/{dataset}"): (L,),
    ("GET", "/api/v1/namespaces/{namespace}/datasets/{dataset}/versions"): (L,),
    ("GET", "/api/v1/lineage"): (L, SPANS), ("GET", "/api/v1/search"): (L, SPANS), ("GET", "/api/v1/tags"): (L,),
    ("GET", "/api/v1/column-lineage"): (L, SPANS), ("GET", "/api/v1/stats/lineage-events"): (L, SPANS),
    ("GET", "/api/v1/stats/{what}"): (L, SPANS), ("GET", "/api/v1/stats/savings"): (R,),
    # the server's metrics (Prometheus): read, open anonymously where reads are
    ("GET", "/metrics"): (L, SPANS),
    # our cache and run views
    ("GET", "/api/v1/cache/{key}"): (C,), ("GET", "/api/v1/runs/diff"): (R, SPANS),
    ("GET", "/api/v1/runs/{run_id}/environment"): (R,), ("GET", "/api/v1/cache"): (R,), ("GET", "/api/v1/runs"): (R,),
    ("GET", "/api/v1/runs/{run_id}"): (R,), ("GET", "/api/v1/runs/{run_id}/events"): (R,),
    # the store API
    ("GET", "/api/v1/store"): (C,), ("POST", "/api/v1/store/jobs"): (C,),
    ("PUT", "/api/v1/store/environments/{env_hash}"): (C,), ("GET", "/api/v1/store/environments/{env_hash}"): (C,),
    ("GET", "/api/v1/store/jobs/{job_id}/manifests"): (C,), ("GET", "/api/v1/store/manifests/{key}"): (C,),
    ("GET", "/api/v1/store/entries/{key}"): (C,), ("PUT", "/api/v1/store/entries/{key}"): (C,),
    ("DELETE", "/api/v1/store/entries/{key}"): (C,), ("GET", "/api/v1/store/artifacts/{digest}"): (C,),
    ("PUT", "/api/v1/store/blobs/{digest}"): (C,), ("GET", "/api/v1/store/blobs/{digest}"): (C,),
    ("HEAD", "/api/v1/store/blobs/{digest}"): (C,), ("POST", "/api/v1/store/runs"): (C,),
    ("PATCH", "/api/v1/store/runs/{run_id}"): (C,), ("POST", "/api/v1/store/runs/{run_id}/abandon"): (C,),
    ("GET", "/api/v1/store/runs/{run_id}"): (C,), ("POST", "/api/v1/store/leases/{key}"): (C,),
    ("PUT", "/api/v1/store/leases/{key}"): (C,), ("DELETE", "/api/v1/store/leases/{key}"): (C,),
    ("GET", "/api/v1/store/leases/{key}"): (C,), ("POST", "/api/v1/store/remote-stat/lookup"): (C,),
    ("PUT", "/api/v1/store/remote-stat"): (C,), ("POST", "/api/v1/store/hits/{key}"): (C,),
    # the admin API
    ("POST", "/api/v1/admin/invalidate"): (A, SPANS), ("POST", "/api/v1/admin/gc"): (A, SPANS),
    ("POST", "/api/v1/admin/audit/prune"): (A, SPANS),
    ("PUT", "/api/v1/admin/pins/{run_id}"): (A,), ("DELETE", "/api/v1/admin/pins/{run_id}"): (A,),
    ("GET", "/api/v1/audit"): (A, SPANS),
    # tags: read them with a read token (filtered per namespace), move them with an admin one (like pins)
    ("GET", "/api/v1/run-tags"): (R,), ("GET", "/api/v1/run-tags/history"): (R,),
    ("PUT", "/api/v1/admin/run-tags"): (A,),
}
NOT_AUDITED = {("PUT", "/api/v1/store/leases/{key}"), ("POST", "/api/v1/store/remote-stat/lookup")}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # the API's description, no data

TOKENS = {R: "r-t0ken", IN: "i-t0ken", C: "c-t0ken", A: "a-t0ken"}
NAMES = {R: "reader", IN: "ingester", C: "cacher", A: "adminer"}
BARE = "bare-t0ken-all-scopes"
LIMITED = "team-a-t0ken"
TOKEN_FILE = "\n".join([f"{NAMES[scope]}:{secret}:{scope}" for scope, secret in TOKENS.items()]
                       + ["# a comment", BARE, f"team-a:{LIMITED}:read,ingest,cache,admin:team-a,team-a.*"]) + "\n"
ZERO = "blake3:" + "0" * 64
VALUES = {"key": ZERO, "digest": ZERO, "env_hash": ZERO, "run_id": "01930000-0000-7000-8000-00000000abcd",
          "job_id": "999", "namespace": "team-a", "job": "j", "dataset": "d", "what": "jobs"}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def route_table() -> list[tuple[str, str, str, set[Any]]]:
    """(method, path, name, dependency callables) of every route of the app, as its router resolves them."""
    from fastapi.routing import APIRoute

    store = Store.from_url(f"sqlite:///{tempfile.mkdtemp()}/routes.db", migrate=False)
    app = create_app(store, [], True, anonymous_read=False)
    try:
        from fastapi.routing import iter_route_contexts

        routes: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # FastAPI before include contexts: the app's routes are flat
        routes = [r for r in app.routes if isinstance(r, APIRoute)]

    def calls(dependant: Any) -> set[Any]:
        return {c for d in dependant.dependencies for c in (d.call, *calls(d))}

    table = []
    for r in routes:
        dependant = getattr(r, "dependant", None)
        if dependant is None:
            assert r.path in DOCS, f"{r.path}: a route that is not an API route"
            continue
        table.extend((m, r.path, r.name, calls(dependant)) for m in sorted(r.methods))
    store.close()
    return table


ROUTES = route_table()


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: VALUES[m[1]], path)


def call(server: Server, method: str, path: str, headers: dict[str, str] | None = None) -> int:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    return server.request(method, concrete(path), body, headers)[0]


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scopes")


def start(home: Path, **env: str) -> Server:
    home.mkdir(parents=True, exist_ok=True)
    (home / "tokens").write_text(TOKEN_FILE)
    return Server({"LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": f"sqlite:///{home / 'lineage.db'}",
                   "LINEAGE_ARTIFACTS_URL": (home / "artifacts").as_uri(),
                   "LINEAGE_SERVER_TOKEN_FILE": str(home / "tokens"), **env}, host="0.0.0.0")


@pytest.fixture(scope="module")
def server(homes: Path) -> Iterator[Server]:
    s = start(homes / "tokens-only")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def open_read(homes: Path) -> Iterator[Server]:
    s = start(homes / "anonymous-read", LINEAGE_SERVER_ANONYMOUS_READ="lineage")
    yield s
    s.stop()


def test_every_route_declares_the_scope_expected_here() -> None:
    seen = set()
    for method, path, _name, deps in ROUTES:
        assert (method, path) in EXPECTED, (
            f"{method} {path} is new: declare its scope (Depends(READ|LINEAGE|INGEST|CACHE|ADMIN), and "
            "every_namespace if it answers across namespaces) and add it to EXPECTED")
        scope, *rest = EXPECTED[method, path]
        needs = [d for d in deps if isinstance(d, Need)]
        want = [] if scope is None else [{L: LINEAGE, R: READ, IN: INGEST, C: CACHE, A: ADMIN}[scope]]
        assert needs == want, f"{method} {path} declares {needs}, expected {want}"
        assert (every_namespace in deps) == (SPANS in rest), f"{method} {path}: every_namespace"
        seen.add((method, path))
    assert seen == set(EXPECTED), f"expected but not in the app: {set(EXPECTED) - seen}"


@pytest.mark.parametrize(("method", "path", "name"), [r[:3] for r in ROUTES], ids=[f"{m} {p}" for m, p, *_ in ROUTES])
def test_a_route_admits_only_tokens_with_its_scope(server: Server, open_read: Server, method: str, path: str,
                                                   name: str) -> None:
    scope = EXPECTED[method, path][0]
    needed = R if scope == L else scope
    got = {"anonymous": call(server, method, path)}
    got |= {s: call(server, method, path, bearer(secret)) for s, secret in TOKENS.items()}
    got |= {"bare": call(server, method, path, bearer(BARE)), "wrong": call(server, method, path, bearer("nope"))}
    anonymous_mode = call(open_read, method, path)
    assert all(status < 500 for status in (*got.values(), anonymous_mode)), got
    if needed is None:  # health and readiness
        assert got["anonymous"] == anonymous_mode == 200
        return
    assert got["anonymous"] == got["wrong"] == 401, got
    for s in TOKENS:
        assert (got[s] == 403) == (s != needed), (s, got)
    assert got["bare"] not in (401, 403) and got[needed] not in (401, 403), got
    assert (anonymous_mode not in (401, 403)) if scope == L else anonymous_mode == 401  # only the Marquez API opens

    if method in ("GET", "HEAD"):
        return
    rows = server.request("GET", f"/api/v1/audit?action={name}&limit=50", None, bearer(TOKENS[A]))[1]["audit"]
    if (method, path) in NOT_AUDITED:  # only refusals are recorded
        assert rows and all(r["outcome"] != "ok" for r in rows), rows
        return
    who = {(r["token"], r["outcome"]) for r in rows if r["route"] == f"{method} {path}"}
    denied = {(NAMES[s], "denied") for s in TOKENS if s != needed}
    assert {("anonymous", "denied"), ("invalid-token", "denied"), *denied} <= who, who
    assert {t for t, outcome in who if outcome != "denied"} == {NAMES[needed], "token-1"}, who
    assert all(secret not in json.dumps(rows) for secret in (BARE, LIMITED, *TOKENS.values()))


def event(namespace: str, run_id: str, job: str = "j") -> dict[str, Any]:
    return {"eventType": "START", "eventTime": "2026-12-01T10:00:00Z", "producer": "https://example.com/test",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
            "run": {"runId": run_id, "facets": {}}, "job": {"namespace": namespace, "name": job, "facets": {}},
            "inputs": [{"namespace": "s3://shared", "name": "in"}], "outputs": []}


def send(s: Server, method: str, path: str, secret: str, payload: Any = None, raw: bytes | None = None
         ) -> tuple[int, Any]:
    body = raw if raw is not None else None if payload is None else json.dumps(payload).encode()
    return s.request(method, path, body, bearer(secret))


class Planted:
    """One job, run, environment, blob and entry in a namespace, written through the store API."""

    def __init__(self, s: Server, secret: str, namespace: str) -> None:
        self.namespace = namespace
        status, body = send(s, "POST", "/api/v1/store/jobs", secret, {"namespace": namespace, "name": "j"})
        assert status == 200, body
        self.job_id = body["id"]
        env = capture_environment()
        self.env_hash = env.content_hash
        assert send(s, "PUT", f"/api/v1/store/environments/{self.env_hash}", secret, env.to_dict())[0] == 204
        data = f"value of {namespace}".encode()
        h = StreamingHasher()
        h.update(data)
        self.digest = h.hexdigest()
        assert send(s, "PUT", f"/api/v1/store/blobs/{self.digest}", secret, raw=data)[0] == 201
        self.run_id = str(uuid.uuid4())
        run = {"id": self.run_id, "job_id": self.job_id, "status": "RUNNING", "started_at": 1.0,
               "environment_hash": self.env_hash}
        assert send(s, "POST", "/api/v1/store/runs", secret, run)[0] == 201
        self.key = "blake3:" + uuid.uuid4().hex * 2
        assert send(s, "PUT", f"/api/v1/store/entries/{self.key}", secret, self.entry(self.job_id))[0] == 204

    def entry(self, job_id: int) -> dict[str, Any]:
        return {"job_id": job_id, "manifest": {"schema": 2}, "run_id": self.run_id, "artifact_hash": self.digest,
                "materializer": "bytes@1", "meta": {}}


def test_a_namespace_limited_token_touches_only_its_namespaces(server: Server) -> None:
    b = Planted(server, BARE, "team-b")
    a = Planted(server, LIMITED, "team-a.sub")  # a glob match: every write here is admitted
    b_run, a_run = str(uuid.uuid4()), str(uuid.uuid4())
    assert send(server, "POST", "/api/v1/lineage", BARE, event("team-b", b_run))[0] == 201
    assert send(server, "POST", "/api/v1/lineage", LIMITED, event("team-a", a_run))[0] == 201
    refused_runs = [str(uuid.uuid4()) for _ in range(3)]  # the refused ingests' runs: never in the event log
    refused_writes = [
        ("POST", "/api/v1/store/jobs", {"namespace": "team-b", "name": "x"}),
        ("POST", "/api/v1/store/jobs", {"namespace": "team-ab", "name": "x"}),  # globs match whole names
        ("POST", "/api/v1/store/runs", {"id": str(uuid.uuid4()), "job_id": b.job_id, "status": "RUNNING",
                                        "started_at": 1.0}),
        ("PATCH", f"/api/v1/store/runs/{b.run_id}", {"status": "COMPLETED"}),
        ("PATCH", f"/api/v1/store/runs/{b.run_id[:8]}", {"status": "COMPLETED"}),  # a prefix names the run too
        ("POST", f"/api/v1/store/runs/{b.run_id}/abandon", {"why": "x"}),
        ("PUT", f"/api/v1/store/entries/{b.key}", a.entry(a.job_id)),  # overwrite team-b's key
        ("PUT", f"/api/v1/store/entries/blake3:{'1' * 64}", b.entry(b.job_id)),  # a new key in team-b's job
        ("DELETE", f"/api/v1/store/entries/{b.key}", None),
        ("POST", f"/api/v1/store/leases/{b.key}", {"owner": "me", "ttl": 30}),
        ("POST", f"/api/v1/store/hits/blake3:{'3' * 64}", {"run_id": str(uuid.uuid4()), "started_at": 1.0,
                                                           "job": {"namespace": "team-b", "name": "j"}}),  # by name
        ("POST", "/api/v1/lineage", event("team-b", refused_runs[0])),
        ("POST", "/api/v1/lineage/batch", [event("team-a", refused_runs[1]), event("team-b", refused_runs[2])]),
        ("PUT", f"/api/v1/admin/pins/{b.run_id}", {"note": "x"}),
        ("DELETE", f"/api/v1/admin/pins/{b.run_id}", None),
        ("POST", "/api/v1/admin/invalidate", {"job": "j"}),
        ("POST", "/api/v1/admin/gc", {"dryRun": True}),
    ]
    for method, path, payload in refused_writes:
        status, body = send(server, method, path, LIMITED, payload)
        assert status == 403 and body["code"] == 403 and body["message"], (method, path, body)
        assert set(body) == {"code", "message", "details"} and LIMITED not in json.dumps(body)
    logged = json.dumps(send(server, "GET", "/api/v1/events/lineage?limit=10000", BARE)[1]["events"])
    assert a_run in logged and not any(r in logged for r in refused_runs)  # the refused batch stored none of them
    assert send(server, "GET", f"/api/v1/store/entries/{b.key}", BARE)[1]["run_id"] == b.run_id  # untouched
    assert send(server, "GET", f"/api/v1/store/runs/{b.run_id}", BARE)[1]["status"] == "RUNNING"

    refused_reads = [
        "/api/v1/namespaces/team-b", "/api/v1/namespaces/team-b/jobs", "/api/v1/namespaces/team-b/jobs/j",
        "/api/v1/namespaces/team-b/jobs/j/runs", f"/api/v1/jobs/runs/{b_run}",
        f"/api/v1/jobs/runs/{b_run}/facets?type=run",
        "/api/v1/namespaces/s3%3A%2F%2Fshared/datasets",  # dataset namespaces are namespaces too
        f"/api/v1/cache/{b.key}", f"/api/v1/runs/{b.run_id}/environment", f"/api/v1/store/entries/{b.key}",
        f"/api/v1/store/manifests/{b.key}", f"/api/v1/store/runs/{b.run_id}", f"/api/v1/store/runs/{b.run_id[:8]}",
        f"/api/v1/store/jobs/{b.job_id}/manifests", f"/api/v1/store/leases/{b.key}",
        # across namespaces: refused whatever they would show
        "/api/v1/namespaces", "/api/v1/jobs", "/api/v1/search?q=j", "/api/v1/events/lineage",
        "/api/v1/lineage?nodeId=job:team-a:j", f"/api/v1/runs/diff?a={a.run_id}&b={a.run_id}", "/api/v1/audit",
    ]
    for path in refused_reads:
        status, body = send(server, "GET", path, LIMITED)
        assert status == 403 and body["code"] == 403, (path, status, body)

    admitted = [
        ("GET", "/api/v1/namespaces/team-a/jobs/j"), ("GET", f"/api/v1/jobs/runs/{a_run}"),
        ("GET", f"/api/v1/cache/{a.key}"), ("GET", f"/api/v1/store/entries/{a.key}"),
        ("GET", f"/api/v1/store/runs/{a.run_id}"), ("GET", f"/api/v1/runs/{a.run_id}/environment"),
        ("GET", f"/api/v1/store/jobs/{a.job_id}/manifests"),
        ("HEAD", f"/api/v1/store/blobs/{b.digest}"),  # content-addressed: no namespace (the digest is the secret)
        ("GET", f"/api/v1/store/artifacts/{b.digest}"),
        ("PATCH", f"/api/v1/store/runs/{a.run_id}"), ("POST", f"/api/v1/store/leases/blake3:{'2' * 64}"),
        ("PUT", f"/api/v1/admin/pins/{a.run_id}"),
    ]
    bodies = {"PATCH": {"status": "COMPLETED"}, "POST": {"owner": "me", "ttl": 30}, "PUT": {"note": "mine"}}
    for method, path in admitted:
        status, body = send(server, method, path, LIMITED, bodies.get(method))
        assert status in (200, 201, 204), (method, path, status, body)

    rows = send(server, "GET", "/api/v1/audit?token=team-a&limit=10000", TOKENS[A])[1]["audit"]
    denied = [r for r in rows if r["outcome"] == "denied"]
    assert len(denied) >= len(refused_writes)
    assert {"team-b"} <= {r["namespace"] for r in denied if r["action"] in ("job", "post_lineage")}
    assert any(r["action"] == "post_batch" and r["namespace"] == "team-a,team-b" for r in denied)


def test_bare_tokens_keep_their_meaning_rotation_and_no_secret_stored(tmp_path: Path) -> None:
    home = tmp_path / "bare"
    home.mkdir()
    (home / "tokens").write_text("from-file-t0ken\nci:old-ci-t0ken:cache,ingest\nci:new-ci-t0ken:cache,ingest\n")
    secrets = ("env-t0ken", "from-file-t0ken", "old-ci-t0ken", "new-ci-t0ken")
    s = Server({"LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": f"sqlite:///{home / 'lineage.db'}",
                "LINEAGE_SERVER_TOKENS": "env-t0ken", "LINEAGE_SERVER_TOKEN_FILE": str(home / "tokens")},
               host="0.0.0.0")
    try:
        for secret in secrets[:2]:  # bare: every scope
            assert send(s, "POST", "/api/v1/lineage", secret, event("any", str(uuid.uuid4())))[0] == 201
            assert send(s, "POST", "/api/v1/store/jobs", secret, {"namespace": "any", "name": "j"})[0] == 200
            assert send(s, "GET", "/api/v1/namespaces", secret)[0] == 200
            assert send(s, "POST", "/api/v1/admin/gc", secret, {"dryRun": True})[0] == 200
        for secret in secrets[2:]:  # during a rotation both tokens of one name work, with its scopes
            assert send(s, "POST", "/api/v1/store/jobs", secret, {"namespace": "ci", "name": "j"})[0] == 200
            assert send(s, "GET", "/api/v1/namespaces", secret)[0] == 403
        status, answer = send(s, "GET", "/api/v1/audit", "env-t0ken")
        assert status == 200
        assert {(r["token"], r["action"]) for r in answer["audit"]} == {
            ("token-1", "post_lineage"), ("token-1", "job"), ("token-1", "gc"),
            ("token-2", "post_lineage"), ("token-2", "job"), ("token-2", "gc"), ("ci", "job")}
        assert sum(r["token"] == "ci" for r in answer["audit"]) == 2
        # a non-ASCII bearer token is a 401, never a 500
        with socket.create_connection(("127.0.0.1", s.port), timeout=30) as sock:
            sock.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xe9t\xff\r\n\r\n")
            assert sock.recv(4096).split()[1] == b"401"
    finally:
        s.stop()
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file() and p.name != "tokens")
    logged = s.proc.stderr.read() if s.proc.stderr else ""
    for secret in secrets:
        assert secret.encode() not in stored and secret not in logged and secret not in json.dumps(answer)


@pytest.mark.parametrize(("env", "file", "message"), [
    ({}, "w:w-t0ken:wrte\n", "token entry 1 (w): unknown scopes ['wrte']"),
    ({}, "good-bare\nbad name:x-t0ken:read\n", "token entry 2: the name"),
    ({}, "w:w-t0ken:read:\n", "an empty namespace pattern"),
    ({}, "a:same-t0ken:read\nb:same-t0ken:admin\n", "tokens a and b are the same token"),
    ({"LINEAGE_SERVER_TOKENS": "w:w-t0ken:cache,ingest"}, "", "holds bare tokens only"),
    ({"LINEAGE_SERVER_ANONYMOUS_READ": "all"}, "t\n", "the only value is 'lineage'"),
])
def test_a_bad_token_setup_stops_the_server_with_a_message_and_no_secret(
        tmp_path: Path, env: dict[str, str], file: str, message: str) -> None:
    (tmp_path / "tokens").write_text(file)
    with pytest.raises(RuntimeError) as e:
        Server({"LINEAGE_HOME": str(tmp_path), "LINEAGE_SERVER_TOKEN_FILE": str(tmp_path / "tokens"), **env},
               host="0.0.0.0")
    assert message in str(e.value)
    assert not re.search(r"\w-t0ken", str(e.value))


def test_token_entries_parse_to_names_scopes_and_globs() -> None:
    tokens = parse_tokens(["plain", "ci:c1:cache, ingest:team-a.*,ml-*", "ro:r1:read", "another"])
    assert [(t.name, sorted(t.scopes), t.namespaces) for t in tokens] == [
        ("token-1", sorted(Scope), ()), ("ci", [Scope.CACHE, Scope.INGEST], ("team-a.*", "ml-*")),
        ("ro", [Scope.READ], ()), ("token-2", sorted(Scope), ())]
    assert "c1" not in repr(tokens)
    with pytest.raises(ConfigError, match="no scope"):
        parse_tokens(["x:y:"])


