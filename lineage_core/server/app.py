"""FastAPI app: ``POST /api/v1/lineage`` (Marquez's contract), ``POST /api/v1/lineage/batch`` (in the
OpenLineage HTTP spec, missing from Marquez), ``GET /api/v1/events/lineage``, the Marquez read API its
web UI calls (read_api.py, including the bounded ``GET /api/v1/lineage``), our own cache, environment
and diff endpoints (cache_api.py), our runs with their manifests and events (runs_api.py: what the ``lineage``
CLI reads from a server), the store API that lets a task use the server as its cache store (store_api.py),
``/healthz``, ``/readyz`` and ``/metrics`` (metrics.py: Prometheus).

Ingest is all-or-nothing and idempotent (see lineage_core.openlineage.ingest): 201 on success, 400 with
the reason on malformed JSON, 422 on events that are not valid OpenLineage, 413 over 10 MB. Every refusal
of every route is a 4xx in Marquez's body (.validation).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ..openlineage.ingest import IngestError, IngestResult, ingest
from ..openlineage.sync import sync_runs_throttled
from ..settings import Settings
from ..store import Store
from ..store.audit import AuditLog
from ..store.metadata import HEAD_REVISION
from ..store.ol_events import EventLog
from ..store.owners import Owners
from .admin_api import admin_router
from .audit_trail import AuditTrail
from .auth import LINEAGE, AccessDenied, Caller, Guard, IngestCaller, TokenBeforeBody, every_namespace, parse_tokens
from .cache_api import cache_router
from .metrics import NOTE_ROUTE, Metrics
from .metrics import install as install_metrics
from .paths import EncodedSegments
from .read_api import error as _error
from .read_api import read_router
from .runs_api import runs_router
from .savings_api import savings_router
from .store_api import store_router
from .store_hits import hits_router
from .tags_api import tags_router
from .validation import JSON_KEY, MAX_BODY, BadRequest, Limit, Offset, install, parse_json, timestamp


def create_app(store: Store, tokens: list[str] | None = None, require_auth: bool = False,
               anonymous_read: bool | None = None) -> FastAPI:
    """``tokens``: the entries :func:`.auth.load_tokens` returns; ``require_auth``: the server is exposed;
    ``anonymous_read``: the Marquez read API is open (default: ``LINEAGE_SERVER_ANONYMOUS_READ=lineage``)."""
    if anonymous_read is None:
        anonymous_read = Settings.current().server_anonymous_read == "lineage"
    app = FastAPI(title="lineage-core", version="0.1.0", dependencies=[NOTE_ROUTE])  # NOTE_ROUTE: metrics' route
    app.state.guard = Guard(parse_tokens(tokens or []), require_auth, anonymous_read, Owners(store))
    app.add_middleware(EncodedSegments)
    install(app)  # Marquez's error body for every refusal; paths and queries checked first
    app.add_middleware(TokenBeforeBody)  # outside install's body parsing: no body read for a caller without a token
    app.add_middleware(AuditTrail, trail=AuditLog(store))
    metrics = Metrics(store)

    @app.exception_handler(AccessDenied)
    async def denied(request: Request, e: AccessDenied) -> JSONResponse:
        answer = _error(e.status, str(e))
        if e.status == 401:
            answer.headers["WWW-Authenticate"] = "Bearer"
        return answer

    async def read_json(request: Request) -> Any | JSONResponse:
        if JSON_KEY in request.scope:  # a JSON body, parsed and checked in front of every route
            return request.scope[JSON_KEY]
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return _error(413, f"request body over {MAX_BODY} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _error(413, f"request body over {MAX_BODY} bytes")
        try:
            return parse_json(body)
        except BadRequest as e:
            return _error(e.status, str(e))

    async def take(caller: Caller, events: list[Any]) -> IngestResult | JSONResponse:
        """What both ingest routes do with the events of a request: store all or none, and count them."""
        try:
            caller.require_events(events)
            # off the event loop: concurrent requests overlap their database round trips
            result = await run_in_threadpool(partial(ingest, json_checked=True), store, events)  # read_json checked
        except IngestError as e:
            metrics.ingest(rejected=len(events))
            return _error(422, str(e), e.problems)
        except AccessDenied:
            metrics.ingest(rejected=len(events))
            raise
        metrics.ingest(result.stored, result.duplicates)
        return result

    @app.post("/api/v1/lineage", status_code=201)
    async def post_lineage(request: Request, caller: IngestCaller) -> Response:
        data = await read_json(request)
        if isinstance(data, JSONResponse):
            metrics.ingest(rejected=1)
            return data
        result = await take(caller, [data])
        return result if isinstance(result, JSONResponse) else Response(status_code=201)

    @app.post("/api/v1/lineage/batch")
    async def post_batch(request: Request, caller: IngestCaller) -> Response:
        data = await read_json(request)
        if isinstance(data, JSONResponse) or not isinstance(data, list):
            metrics.ingest(rejected=1)
            return data if isinstance(data, JSONResponse) else _error(400, "a batch is a JSON array of events")
        result = await take(caller, data)
        if isinstance(result, JSONResponse):
            return result
        return JSONResponse({"status": "success", "stored": result.stored, "duplicates": result.duplicates})

    @app.get("/api/v1/events/lineage", dependencies=[Depends(LINEAGE), Depends(every_namespace)])
    def get_events(limit: Limit = 100, offset: Offset = 0, after: str | None = None, before: str | None = None,
                   sortDirection: Literal["asc", "desc"] = "desc") -> JSONResponse:
        lo = timestamp(after, "after") if after else 0.0
        hi = timestamp(before, "before") if before else 4102444800.0  # 2100-01-01
        sync_runs_throttled(store)
        page = EventLog(store).page(lo, hi, sortDirection == "asc", limit, offset)
        return JSONResponse({"events": page.items, "totalCount": page.total})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        try:
            rev = store.current_revision()
        except Exception as e:  # noqa: BLE001 - readiness reports, never crashes
            metrics.store_error("/readyz")
            return _error(503, f"store unreachable: {type(e).__name__}")
        if rev != HEAD_REVISION:
            return _error(503, f"store migrations not current ({rev} != {HEAD_REVISION})")
        return JSONResponse({"status": "ready", "revision": rev})

    app.include_router(hits_router(store))  # first: a task's hit matches its route without trying ~60 others
    app.include_router(savings_router(store))  # before read_router: its /stats/{what} would take "savings"
    app.include_router(read_router(store))
    app.include_router(cache_router(store))  # before runs_router: GET /runs/diff is not the run "diff"
    app.include_router(runs_router(store))
    app.include_router(store_router(store))
    app.include_router(admin_router(store))
    app.include_router(tags_router(store))
    install_metrics(app, metrics)  # last: its middleware is the outermost, timing everything inside
    return app
