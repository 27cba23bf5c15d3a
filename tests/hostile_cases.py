"""The hostile-input catalogue for tests/test_hostile_inputs.py: every route of the server x every class of bad
input (path segments, query values, integers, JSON body fields and whole bodies, not-OpenLineage events, bad
bearer tokens), each with the answer it must get. Data only: the test module runs them against real servers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from lineage_core.environment import EnvironmentSnapshot

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
                "/api/v1/jobs?lastRunStates={x}", "/api/v1/jobs/runs/" + RUN + "/facets?type={x}",
                "/api/v1/run-tags?job={x}", "/api/v1/run-tags/history?job=j&name={x}",
                "/api/v1/stats/savings?since={x}", "/api/v1/stats/savings?by={x}"]
QUERY_SEMANTICS = {  # one query value that is text, but not what the parameter means
    "after-garbage": "/api/v1/events/lineage?after=garbage", "before-garbage": "/api/v1/events/lineage?before=x",
    "after-no-such-day": "/api/v1/events/lineage?after=2026-02-30T00:00:00Z",
    "sort-sideways": "/api/v1/events/lineage?sortDirection=sideways", "nodeid-garbage": "/api/v1/lineage?nodeId=job:x",
    "nodeid-namespace-256-bytes": f"/api/v1/lineage?nodeId=job:{'n' * 256}:j",
    "nodeid-name-1024-bytes": f"/api/v1/lineage?nodeId=dataset:{NS}:{'n' * 1024}",
    "unknown-run-state": "/api/v1/jobs?lastRunStates=DONE", "search-filter": "/api/v1/search?q=a&filter=RUNS",
    "search-blank": "/api/v1/search?q=%20%20", "facets-type": f"/api/v1/jobs/runs/{RUN}/facets?type=dataset",
    "audit-since": "/api/v1/audit?since=yesterday",
    "savings-since": "/api/v1/stats/savings?since=yesterday", "savings-since-no-such-day":
    "/api/v1/stats/savings?since=2026-02-30", "savings-by": "/api/v1/stats/savings?by=day",
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
    hit = {"run_id": "{new_run}", "job_id": "{job_id}", "started_at": 1.0, "context": {}}
    named_hit = {"run_id": "{new_run}", "job": {"namespace": NS, "name": "x"}, "started_at": 1.0, "context": {},
                 "environment_hash": ENV.content_hash, "environment": ENV.to_dict()}  # a fresh pod's first hit
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
        BodyRoute("POST", "/api/v1/store/hits/{key}", hit, ("run_id",), False),
        BodyRoute("POST", "/api/v1/store/hits/{key}", named_hit, ("job", "name"), True),
        BodyRoute("POST", "/api/v1/store/hits/{key}", named_hit, ("environment", "python"), False),
        BodyRoute("POST", "/api/v1/admin/invalidate", {"job": "no-such-job"}, ("job",), False, empty=400),
        BodyRoute("POST", "/api/v1/admin/gc", {"dryRun": True}, ("grace",), False, empty=None),
        BodyRoute("PUT", f"/api/v1/admin/pins/{RUN}", {"note": "x"}, ("note",), False, empty=None),
        BodyRoute("PUT", "/api/v1/admin/run-tags", {"run": RUN, "name": "prod"}, ("name",), False),
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
        text = {"Content-Type": "text/plain"}  # as Marquez: the ingest routes take JSON only (415), whatever the body
        out.append(Case(f"event-nul-as-text-plain-{path}", "POST", path, b'{"a": "\\u0000"}', 415, text))
        out.append(Case(f"event-deep-as-text-plain-{path}", "POST", path, b"[" * 5000 + b"]" * 5000, 415, text))
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

