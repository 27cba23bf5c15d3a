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
import os
import random
import string
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from lineage_core.cache import default_store
from lineage_core.environment import EnvironmentSnapshot
from lineage_core.errors import StoreError
from lineage_core.hashing import hash_bytes
from lineage_core.openlineage.ingest import IngestError, ingest, rebuild
from lineage_core.store import Store
from lineage_core.store import schema as t

from .conftest import BACKENDS
from .services.lineage_server import Server
from .services.postgres import PostgresServer
from .test_integrity import small_disk  # noqa: F401 - the fixture

TOKEN = "hostile-t0ken"
NS, JOB, DS = "hostile-ns", "hostile.job", "hostile/table"
RUN = "0190b1a0-0000-7000-8000-00000000f001"
UNCHECKED = {"audit", "ol_sync"}  # the audit trail records refused writes too; the watermark moves on reads
MB9 = "n" * (9 << 20)
ENV = EnvironmentSnapshot(python="3.11.9", implementation="CPython", platform="linux", machine="x86_64",
                          packages={"numpy": "2.1.0"})
AUTH = f"Bearer {TOKEN}".encode()


def event(**changes: Any) -> dict[str, Any]:
    """A valid RunEvent of the seeded job; ``changes`` replace top-level fields."""
    base: dict[str, Any] = {
        "eventType": "START", "eventTime": "2026-11-22T10:00:00Z", "producer": "https://hostile.test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": RUN, "facets": {}}, "job": {"namespace": NS, "name": JOB, "facets": {}},
        "inputs": [{"namespace": NS, "name": DS}], "outputs": [],
    }
    return {**base, **changes}


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


# -- the cases --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str  # {key} {digest} {job_id} are the seeded ones
    body: bytes | None = None
    expect: int = 400
    headers: dict[str, Any] = field(default_factory=dict)
    token: bytes | None = AUTH
    fast: bool = False  # the representative of its class in the fast loop


def _raw(value: Any) -> bytes:
    return json.dumps(value).encode()


PATH_VALUES = {  # percent-encoded path segments
    "nul": "a%00b", "soh": "a%01b", "newline": "a%0Ab", "tab": "a%09b", "del": "a%7Fb", "c1-nel": "a%C2%85b",
    "lone-surrogate": "a%ED%A0%80b", "not-utf8": "a%FFb", "overlong-utf8": "%C0%AF", "1024-bytes": "a" * 1024,
    "1024-bytes-of-2-byte-chars": quote("é" * 512), "9-kb": "n" * 9216,
}
PATH_ROUTES = [
    ("GET", "/api/v1/namespaces/{x}"), ("GET", "/api/v1/namespaces/{x}/jobs"),
    ("GET", f"/api/v1/namespaces/{NS}/jobs/{{x}}"), ("GET", f"/api/v1/namespaces/{{x}}/jobs/{quote(JOB)}/runs"),
    ("GET", "/api/v1/jobs/runs/{x}"), ("GET", "/api/v1/jobs/runs/{x}/facets?type=run"),
    ("GET", "/api/v1/namespaces/{x}/datasets"), ("GET", f"/api/v1/namespaces/{NS}/datasets/{{x}}"),
    ("GET", f"/api/v1/namespaces/{NS}/datasets/{{x}}/versions"), ("GET", "/api/v1/cache/{x}"),
    ("GET", "/api/v1/runs/{x}/environment"), ("GET", "/api/v1/store/environments/{x}"),
    ("GET", "/api/v1/store/manifests/{x}"), ("GET", "/api/v1/store/entries/{x}"),
    ("DELETE", "/api/v1/store/entries/{x}"),
    ("GET", "/api/v1/store/artifacts/{x}"), ("GET", "/api/v1/store/blobs/{x}"), ("HEAD", "/api/v1/store/blobs/{x}"),
    ("GET", "/api/v1/store/runs/{x}"), ("PATCH", "/api/v1/store/runs/{x}"), ("POST", "/api/v1/store/runs/{x}/abandon"),
    ("GET", "/api/v1/store/leases/{x}"), ("DELETE", "/api/v1/store/leases/{x}?owner=o"),
    ("PUT", "/api/v1/admin/pins/{x}"), ("DELETE", "/api/v1/admin/pins/{x}"),
]
PATH_BODIES = {"PATCH": {"status": "FAILED", "error": "x"}, "POST": {"why": "x"}, "PUT": {"note": "x"}}

QUERY_VALUES = {"nul": "a%00b", "soh": "a%01b", "c1-nel": "a%C2%85b", "lone-surrogate": "a%ED%A0%80b",
                "not-utf8": "a%FFb", "5000-chars": "q" * 5000}
QUERY_ROUTES = ["/api/v1/search?q={x}", "/api/v1/search?q=a&namespace={x}", f"/api/v1/lineage?nodeId=job:{NS}:{{x}}",
                "/api/v1/runs/diff?a={x}&b=abcdefgh", "/api/v1/events/lineage?after={x}",
                "/api/v1/events/lineage?before={x}", "/api/v1/audit?since={x}", "/api/v1/audit?token={x}",
                "/api/v1/jobs?lastRunStates={x}", "/api/v1/jobs/runs/" + RUN + "/facets?type={x}"]
QUERY_SEMANTICS = {  # one query value that is text, but not what the parameter means
    "after-garbage": "/api/v1/events/lineage?after=garbage", "before-garbage": "/api/v1/events/lineage?before=x",
    "after-no-such-day": "/api/v1/events/lineage?after=2026-02-30T00:00:00Z",
    "sort-sideways": "/api/v1/events/lineage?sortDirection=sideways", "nodeid-garbage": "/api/v1/lineage?nodeId=x",
    "nodeid-namespace-256-bytes": f"/api/v1/lineage?nodeId=job:{'n' * 256}:j",
    "nodeid-name-1024-bytes": f"/api/v1/lineage?nodeId=dataset:{NS}:{'n' * 1024}",
    "unknown-run-state": "/api/v1/jobs?lastRunStates=DONE", "search-filter": "/api/v1/search?q=a&filter=RUNS",
    "search-blank": "/api/v1/search?q=%20%20", "facets-type": f"/api/v1/jobs/runs/{RUN}/facets?type=dataset",
    "audit-since": "/api/v1/audit?since=yesterday",
}

INT_VALUES = {"negative": "-1", "2**63": str(2**63), "2**64": str(2**64), "below-int64": str(-(2**63) - 1),
              "huge": "9" * 40, "not-a-number": "abc", "fraction": "1.5", "empty": ""}
INT_ROUTES = {  # route -> its integer parameters (extra bounds: limit is 1..10,000)
    "/api/v1/namespaces": ["limit", "offset"], "/api/v1/jobs": ["limit", "offset"],
    f"/api/v1/namespaces/{NS}/jobs": ["limit", "offset"],
    f"/api/v1/namespaces/{NS}/jobs/{quote(JOB)}/runs": ["limit", "offset"],
    f"/api/v1/namespaces/{NS}/datasets": ["limit", "offset"],
    f"/api/v1/namespaces/{NS}/datasets/{quote(DS, safe='')}/versions": ["limit", "offset"],
    "/api/v1/events/lineage": ["limit", "offset"], f"/api/v1/lineage?nodeId=job:{NS}:{JOB}": ["depth"],
    "/api/v1/search?q=a": ["limit"], "/api/v1/audit": ["limit"], "/api/v1/store/jobs/{job_id}/manifests": ["limit"],
}
LIMIT_ONLY = {"zero": "0", "10001": "10001"}


BODY_VALUES: dict[str, tuple[bytes, int]] = {  # what replaces one string field, as raw JSON text
    "nul": (b'"a\\u0000b"', 400), "lone-surrogate": (b'"a\\ud800b"', 400), "int-2**64": (str(2**64).encode(), 400),
    "int-below-int64": (str(-(2**63) - 1).encode(), 400), "nan": (b"NaN", 400), "infinity": (b"-Infinity", 400),
    "1e400": (b"1e400", 400), "nested-150": (b"[" * 150 + b"]" * 150, 400),
    "nested-1000": (b"[" * 1000 + b"]" * 1000, 400), "nested-100000": (b"{\"a\":" * 100000 + b"1" + b"}" * 100000, 400),
}
NAME_VALUES: dict[str, tuple[bytes, int]] = {  # only for fields that are names
    "9-mb": (_raw(MB9), 422), "1024-bytes": (_raw("n" * 1024), 422), "control-char": (_raw("a\x01b"), 422),
    "c1-char": (_raw("a\x85b"), 422), "empty": (_raw(""), 422),
}
WHOLE_BODIES: dict[str, bytes] = {  # refused before any route reads them: 400, or 413
    "truncated": b'{"a": ', "not-utf8": b'{"a": "\xff\xfe"}', "bare-nan": b"NaN",
    "over-10-mb": b'"' + b"x" * (10 << 20),
}


@dataclass(frozen=True)
class BodyRoute:
    method: str
    path: str
    template: Any
    field: tuple[Any, ...]  # where the hostile value goes
    name: bool  # the field is a name: length and control characters are refused too
    shape: int = 422  # the answer to a JSON body of the wrong shape (a string)
    empty: int | None = 422  # the answer to ``{}`` (None: ``{}`` is a valid body there)


def _body_routes() -> list[BodyRoute]:
    entry = {"job_id": "{job_id}", "manifest": {}, "run_id": RUN, "artifact_hash": "{digest}",
             "materializer": "bytes@1", "meta": {}, "value_hash": None}
    run = {"id": "{new_run}", "job_id": "{job_id}", "status": "RUNNING", "started_at": 1.0}
    stat = {"uri": "s3://b/k", "size": 1, "etag": "e", "version": "", "hash": "{digest}"}
    return [
        BodyRoute("POST", "/api/v1/lineage", event(), ("job", "name"), True),
        BodyRoute("POST", "/api/v1/lineage/batch", [event()], (0, "outputs"), False, 400, 400),
        BodyRoute("POST", "/api/v1/lineage/batch", [event()], (0, "job", "namespace"), True, 400, 400),
        BodyRoute("POST", "/api/v1/store/jobs", {"namespace": NS, "name": "x"}, ("name",), True),
        BodyRoute("PUT", f"/api/v1/store/environments/{ENV.content_hash}", ENV.to_dict(), ("python",), False),
        BodyRoute("PUT", "/api/v1/store/entries/{key}", entry, ("materializer",), False),
        BodyRoute("POST", "/api/v1/store/runs", run, ("error",), False),
        BodyRoute("PATCH", f"/api/v1/store/runs/{RUN}", {"status": "FAILED", "error": "x"}, ("error",), False),
        BodyRoute("POST", f"/api/v1/store/runs/{RUN}/abandon", {"why": "x"}, ("why",), False),
        BodyRoute("POST", "/api/v1/store/leases/{key}", {"owner": "o", "ttl": 1}, ("owner",), False),
        BodyRoute("PUT", "/api/v1/store/leases/{key}", {"owner": "o", "ttl": 1}, ("ttl",), False),
        BodyRoute("POST", "/api/v1/store/remote-stat/lookup", {"uris": ["s3://b/k"]}, ("uris", 0), False),
        BodyRoute("PUT", "/api/v1/store/remote-stat", [stat], (0, "etag"), False),
        BodyRoute("POST", "/api/v1/admin/invalidate", {"job": "no-such-job"}, ("job",), False, empty=400),
        BodyRoute("POST", "/api/v1/admin/gc", {"dryRun": True}, ("grace",), False, empty=None),
        BodyRoute("PUT", f"/api/v1/admin/pins/{RUN}", {"note": "x"}, ("note",), False, empty=None),
    ]


SENTINEL = "\x00HOSTILE\x00"


def _planted(template: Any, where: tuple[Any, ...]) -> Any:
    doc = json.loads(json.dumps(template))
    node = doc
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = SENTINEL
    return doc


def _with(template: Any, where: tuple[Any, ...], raw_value: bytes) -> bytes:
    """The template as JSON with ``raw_value`` (raw JSON text, possibly invalid on purpose) at ``where``."""
    text = json.dumps(_planted(template, where)).encode()
    return text.replace(json.dumps(SENTINEL).encode(), raw_value)


EVENT_SHAPES: dict[str, tuple[Any, int]] = {  # an event that is JSON but not OpenLineage -> 422, nothing stored
    "inputs-a-string": (event(inputs="x"), 422), "inputs-of-numbers": (event(inputs=[1, 2]), 422),
    "output-without-name": (event(outputs=[{"namespace": NS}]), 422),
    "output-without-namespace": (event(outputs=[{"name": DS}]), 422),
    "input-name-int": (event(inputs=[{"namespace": NS, "name": 7}]), 422),
    "output-name-1024": (event(outputs=[{"namespace": NS, "name": "d" * 1024}]), 422),
    "namespace-256-bytes": (event(job={"namespace": "n" * 256, "name": JOB}), 422),
    "namespace-of-emoji-over-255-bytes": (event(job={"namespace": "😀" * 64, "name": JOB}), 422),
    "name-1024-chars": (event(job={"namespace": NS, "name": "j" * 1024}), 422),
    "name-9-mb": (event(job={"namespace": NS, "name": MB9}), 422),
    "name-with-tab": (event(job={"namespace": NS, "name": "a\tb"}), 422),
    "name-with-del": (event(job={"namespace": NS, "name": "a\x7fb"}), 422),
    "name-empty": (event(job={"namespace": NS, "name": ""}), 422),
    "no-job": ({k: v for k, v in event().items() if k != "job"}, 422), "job-a-list": (event(job=[NS, JOB]), 422),
    "no-run": ({k: v for k, v in event().items() if k != "run"}, 422), "run-id-int": (event(run={"runId": 7}), 422),
    "run-id-empty": (event(run={"runId": ""}), 422), "event-time-garbage": (event(eventTime="yesterday"), 422),
    "event-time-number": (event(eventTime=1700000000), 422),
    "event-time-no-such-day": (event(eventTime="2026-02-30T10:00:00Z"), 422),
    "event-type-unknown": (event(eventType="DONE"), 422), "event-type-int": (event(eventType=3), 422),
    "no-producer": ({k: v for k, v in event().items() if k != "producer"}, 422),
    "producer-int": (event(producer=1), 422), "schema-url-int": (event(schemaURL=2), 422),
    "run-facets-a-string": (event(run={"runId": RUN, "facets": "x"}), 422),
    "facet-a-string": (event(run={"runId": RUN, "facets": {"custom": "x"}}), 422),
    "job-facets-a-list": (event(job={"namespace": NS, "name": JOB, "facets": []}), 422),
    "job-type-facet-a-string": (event(job={"namespace": NS, "name": JOB, "facets": {"jobType": "BATCH"}}), 422),
    "parent-a-string": (event(run={"runId": RUN, "facets": {"parent": "x"}}), 422),
    "parent-job-name-int": (event(run={"runId": RUN, "facets": {"parent": {"job": {"namespace": NS, "name": 1}}}}),
                            422),
    "parent-namespace-300": (event(run={"runId": RUN, "facets": {"parent": {"job": {"namespace": "p" * 300,
                                                                                    "name": "x"}}}}), 422),
    "parent-run-id-int": (event(run={"runId": RUN, "facets": {"parent": {"run": {"runId": 5}}}}), 422),
    "dataset-version-300": (event(outputs=[{"namespace": NS, "name": DS,
                                            "facets": {"version": {"datasetVersion": "v" * 300}}}]), 422),
    "dataset-version-object": (event(outputs=[{"namespace": NS, "name": DS,
                                               "facets": {"version": {"datasetVersion": {"v": 1}}}}]), 422),
    "dataset-facets-a-string": (event(inputs=[{"namespace": NS, "name": DS, "facets": "x"}]), 422),
    "dataset-event-without-dataset": ({**event(), "schemaURL": "https://x/spec#/$defs/DatasetEvent"}, 422),
    "dataset-event-name-missing": ({"eventTime": "2026-11-22T10:00:00Z", "producer": "p", "dataset": {"namespace": NS},
                                    "schemaURL": "https://x/spec#/$defs/DatasetEvent"}, 422),
    "job-event-without-job": ({"eventTime": "2026-11-22T10:00:00Z", "producer": "p",
                               "schemaURL": "https://x/spec#/$defs/JobEvent"}, 422),
    "event-a-string": ("an event", 422), "event-null": (None, 422), "event-a-list": ([event()], 422),
}

BAD_TOKENS = {
    "latin-1": b"Bearer t\xf6ken", "utf-8": "Bearer tökén-☃".encode(),
    "valid-then-non-ascii": f"Bearer {TOKEN}é".encode(),
    "5000-non-ascii": b"Bearer " + "é".encode() * 5000, "empty": b"Bearer ", "scheme-only": b"Bearer",
    "basic": b"Basic aG9zdGlsZQ==", "none": None,
}
AUTH_ROUTES = [("GET", "/api/v1/namespaces", None), ("POST", "/api/v1/lineage", _raw(event())),
               ("POST", "/api/v1/lineage/batch", _raw([event()])), ("GET", "/api/v1/store", None),
               ("PUT", "/api/v1/store/blobs/{digest}", b"seeded bytes"), ("GET", "/api/v1/cache/{key}", None),
               ("POST", "/api/v1/admin/gc", _raw({"dryRun": True})), ("GET", "/api/v1/audit", None),
               ("GET", "/api/v1/events/lineage", None)]


def cases() -> list[Case]:
    out: list[Case] = []
    for c, (cls, value) in enumerate(PATH_VALUES.items()):
        for r, (method, path) in enumerate(PATH_ROUTES):
            body = _raw(PATH_BODIES[method]) if method in PATH_BODIES and "{x}" in path.split("?")[0] else None
            out.append(Case(f"path-{cls}-{method}-{path}", method, path.replace("{x}", value), body,
                            fast=r == c % len(PATH_ROUTES)))
    for c, (cls, value) in enumerate(QUERY_VALUES.items()):
        for r, path in enumerate(QUERY_ROUTES):
            method = "GET"
            out.append(Case(f"query-{cls}-{path}", method, path.replace("{x}", value), fast=r == c))
    out.append(Case("query-nul-lease-owner", "DELETE", "/api/v1/store/leases/{key}?owner=a%00"))
    for cls, path in QUERY_SEMANTICS.items():
        out.append(Case(f"query-{cls}", "GET", path, fast=cls in ("after-garbage", "nodeid-name-1024-bytes")))
    first = True
    for route, params in INT_ROUTES.items():
        for param in params:
            values = {**INT_VALUES, **(LIMIT_ONLY if param == "limit" else {})}
            for cls, value in values.items():
                sep = "&" if "?" in route else "?"
                out.append(Case(f"int-{param}-{cls}-{route}", "GET", f"{route}{sep}{param}={value}",
                                fast=first and cls in ("negative", "2**64", "zero")))
            first = False
    for cls, value in {**INT_VALUES, "zero": "0"}.items():
        if value and "/" not in value:
            out.append(Case(f"int-job-id-{cls}", "GET", f"/api/v1/store/jobs/{value}/manifests"))
    whole: set[tuple[str, str]] = set()
    for r, route in enumerate(_body_routes()):
        values = {**BODY_VALUES, **(NAME_VALUES if route.name else {})}
        for cls, (raw_value, expect) in values.items():
            out.append(Case(f"body-{cls}-{route.method}-{route.path}-{'.'.join(map(str, route.field))}", route.method,
                            route.path, _with(route.template, route.field, raw_value), expect, fast=r == 0))
        if (route.method, route.path) in whole:
            continue
        whole.add((route.method, route.path))
        for cls, raw_body in WHOLE_BODIES.items():
            out.append(Case(f"body-{cls}-{route.method}-{route.path}", route.method, route.path, raw_body,
                            413 if cls == "over-10-mb" else 400, fast=r == 3 and cls in ("truncated", "over-10-mb")))
        out.append(Case(f"body-a-string-{route.method}-{route.path}", route.method, route.path, b'"x"', route.shape))
        if route.empty is not None:
            out.append(Case(f"body-empty-object-{route.method}-{route.path}", route.method, route.path, b"{}",
                            route.empty))
    for path in ("/api/v1/lineage", "/api/v1/lineage/batch"):
        for cls, (doc, expect) in EVENT_SHAPES.items():
            body = [doc] if path.endswith("batch") else doc
            fast = cls in ("inputs-a-string", "inputs-of-numbers", "output-without-name", "name-9-mb")
            out.append(Case(f"event-{cls}-{path}", "POST", path, _raw(body), expect, fast=fast and "batch" not in path))
        text = {"Content-Type": "text/plain"}  # the ingest routes read any content type: checked all the same
        out.append(Case(f"event-nul-as-text-plain-{path}", "POST", path, b'{"a": "\\u0000"}', 400, text))
        out.append(Case(f"event-deep-as-text-plain-{path}", "POST", path, b"[" * 5000 + b"]" * 5000, 400, text))
    out.append(Case("batch-good-then-bad", "POST", "/api/v1/lineage/batch",
                    _raw([event(eventType="COMPLETE", eventTime="2026-11-22T11:00:00Z"), event(inputs="x")]), 422,
                    fast=True))
    out.append(Case("batch-an-object", "POST", "/api/v1/lineage/batch", _raw(event()), 400))
    out.append(Case("batch-empty", "POST", "/api/v1/lineage/batch", b"[]", 200, fast=True))
    out.append(Case("duplicate-event", "POST", "/api/v1/lineage", _raw(event()), 201))  # the seeded one: stored once
    for cls, token in BAD_TOKENS.items():
        for r, (method, path, body) in enumerate(AUTH_ROUTES):
            headers = {"Content-Type": "application/octet-stream"} if "/blobs/" in path else {}
            out.append(Case(f"token-{cls}-{method}-{path}", method, path, body, 401, headers, token,
                            fast=r == 0 or (cls == "utf-8" and r < 3)))
    return out


CASES = cases()
assert len({c.id for c in CASES}) == len(CASES)


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
    assert {c.expect for c in CASES} == {200, 201, 400, 401, 413, 422}


# -- what is at the limits is accepted --------------------------------------------------------------------
def _random(n: int) -> str:
    return "".join(random.choices(string.ascii_letters + string.digits + "./-_", k=n))


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_names_and_numbers_at_the_limits_are_accepted(backend: str, request: pytest.FixtureRequest,
                                                      tmp_path: Path) -> None:
    """A 255-byte namespace and a 1,023-byte name (random, so PostgreSQL cannot compress the edge's index row),
    as a job and as its dataset; a 255-character dataset version; limit 1 and 10,000; offset 2**63-1."""
    server = start(tmp_path, store_url(backend, request, tmp_path))
    try:
        ns, name, version = _random(255), _random(1023), _random(255)
        doc = event(job={"namespace": ns, "name": name}, inputs=[{"namespace": ns, "name": name}],
                    outputs=[{"namespace": ns, "name": _random(1023),
                              "facets": {"version": {"datasetVersion": version}}}])
        assert send(server, "POST", "/api/v1/lineage", _raw(doc))[0] == 201
        status, raw = send(server, "GET", f"/api/v1/namespaces/{quote(ns, safe='')}/jobs/{quote(name, safe='')}")
        assert status == 200 and json.loads(raw)["name"] == name
        status, raw = send(server, "GET", f"/api/v1/lineage?nodeId={quote(f'job:{ns}:{name}', safe='')}&depth=1")
        assert status == 200 and len(json.loads(raw)["graph"]) == 3
        status, raw = send(server, "POST", "/api/v1/store/jobs", _raw({"namespace": ns, "name": _random(512)}))
        assert status == 200 and json.loads(raw)["id"] >= 1
        for query in ("limit=1", "limit=10000", f"offset={2**63 - 1}"):
            status, raw = send(server, "GET", f"/api/v1/events/lineage?{query}")
            assert status == 200 and json.loads(raw)["totalCount"] == 1, query
            assert send(server, "GET", f"/api/v1/namespaces?{query}")[0] == 200
    finally:
        server.stop()


# -- a full disk on the server (small_disk: a real 2 MiB tmpfs, from test_integrity) -------------------------
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_disk_during_an_upload_is_507_and_keeps_nothing(backend: str, request: pytest.FixtureRequest,
                                                               tmp_path: Path) -> None:
    disk: Path = request.getfixturevalue("small_disk")
    server = start(tmp_path, store_url(backend, request, tmp_path), artifacts=disk)
    octets = {"Content-Type": "application/octet-stream"}
    try:
        big = os.urandom(3 << 20)
        status, raw = send(server, "PUT", f"/api/v1/store/blobs/{hash_bytes(big)}", big, octets)
        body = json.loads(raw)
        assert status == 507 and body["code"] == 507
        assert "full" in body["message"] and "nothing stored" in body["message"]
        assert [p for p in disk.rglob("*") if p.is_file()] == []  # the partial upload is gone
        assert send(server, "GET", "/healthz", token=None)[0] == 200
        assert send(server, "HEAD", f"/api/v1/store/blobs/{hash_bytes(big)}")[0] == 404
        small = b"fits " * 100
        assert send(server, "PUT", f"/api/v1/store/blobs/{hash_bytes(small)}", small, octets)[0] == 201  # space is back
        assert send(server, "GET", f"/api/v1/store/blobs/{hash_bytes(small)}") == (200, small)
        st = os.statvfs(disk)  # no inode left: the temp file itself cannot be created
        subprocess.run(["mount", "-o", f"remount,nr_inodes={st.f_files - st.f_ffree}", str(disk)], check=True)
        before = sorted(disk.rglob("*"))
        other = b"no inode for me"
        status, raw = send(server, "PUT", f"/api/v1/store/blobs/{hash_bytes(other)}", other, octets)
        assert (status, json.loads(raw)["code"]) == (507, 507) and sorted(disk.rglob("*")) == before
        assert send(server, "GET", "/healthz", token=None)[0] == 200
    finally:
        server.stop()


# -- our own runs, with names the lineage tables cannot take ----------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_whose_name_cannot_be_indexed_is_left_out_of_lineage_not_every_read(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    """A client names a step with 400 CJK characters (the runs table holds them; 1,200 bytes are over what the
    lineage tables index): the sync leaves that run out with one WARNING, and every other run is there."""
    url = store_url(backend, request, tmp_path)
    store = Store.from_url(url, (tmp_path / "artifacts").as_uri())
    try:
        too_long, fine = store.job_id("default", "漢" * 400), store.job_id("default", "ok.step")
        bad_run, good_run = str(uuid.uuid4()), str(uuid.uuid4())
        store.insert_run(id=bad_run, job_id=too_long, status="COMPLETED", started_at=1.0, ended_at=2.0)
        store.insert_run(id=good_run, job_id=fine, status="COMPLETED", started_at=1.0, ended_at=2.0)
    finally:
        store.close()
    server = start(tmp_path, url)
    try:
        status, raw = send(server, "GET", "/api/v1/namespaces/default/jobs")
        assert status == 200 and [j["name"] for j in json.loads(raw)["jobs"]] == ["ok.step"]
        assert send(server, "GET", f"/api/v1/jobs/runs/{good_run}")[0] == 200
        assert send(server, "GET", f"/api/v1/jobs/runs/{bad_run}")[0] == 404
        assert send(server, "GET", "/api/v1/namespaces")[0] == 200  # and again: reads keep working
    finally:
        server.stop()
    log = server.proc.stderr.read() if server.proc.stderr else ""
    assert log.count(f"run {bad_run} is not in the lineage tables") == 1 and "1023 bytes of UTF-8" in log


# -- a damaged store file on the client -------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["not-a-database", "malformed-pages"])
def test_a_damaged_sqlite_file_is_a_store_error_naming_it(
    damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_module: Callable[..., ModuleType],
) -> None:
    db = tmp_path / "store" / "lineage.db"
    url, artifacts = f"sqlite:///{db}", (tmp_path / "artifacts").as_uri()
    if damage == "not-a-database":
        db.parent.mkdir()
        db.write_bytes(os.urandom(8192))
    else:  # a real store whose schema pages are overwritten
        store = Store.from_url(url, artifacts)
        store.job_id("default", "step")
        store.close()
        with open(db, "r+b") as f:
            f.seek(100)
            f.write(b"\xff" * 3000)
    with pytest.raises(StoreError) as e:
        Store.from_url(url, artifacts).runs()
    assert str(db) in str(e.value) and "restore it from a backup, or move it aside" in str(e.value)
    monkeypatch.setenv("LINEAGE_STORE_URL", url)
    m = make_module("from lineage_core import cached\n@cached\ndef double(n):\n    return 2 * n\n")
    with pytest.raises(StoreError, match="is damaged or not a SQLite database"):
        m.double(2)
    cli = subprocess.run([sys.executable, "-m", "lineage_core.cli", "runs"], capture_output=True, text=True,
                         env={**os.environ, "LINEAGE_STORE_URL": url}, timeout=120)
    assert cli.returncode != 0 and str(db) in cli.stderr and "Traceback" not in cli.stderr


# -- an event an older version stored, that today's validation refuses -------------------------------------
@pytest.mark.usefixtures("backend")
def test_rebuild_names_a_stored_event_that_validation_now_refuses_and_changes_nothing() -> None:
    store = default_store()
    ingest(store, [event()])
    derived = (t.ol_jobs, t.ol_runs, t.ol_datasets, t.ol_edges)

    def rows() -> list[list[Any]]:
        with store.engine.connect() as c:
            return [sorted(map(tuple, c.execute(sa.select(table)))) for table in derived]

    before = rows()
    with store.engine.begin() as c:  # as an older version would have kept it
        c.execute(t.ol_events.insert().values(
            id=hash_bytes(b"stored before validation"), kind="RunEvent", event_type="COMPLETE", run_id=RUN,
            job_namespace=NS, job_name=JOB, event_time=2.0, payload=event(inputs="x"), received_at=2.0))
    with pytest.raises(IngestError, match="inputs: must be a JSON array"):
        rebuild(store)
    assert rows() == before and all(before)
