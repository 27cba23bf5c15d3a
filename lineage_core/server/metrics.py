"""``GET /metrics``: the server's counters in Prometheus's text format (prometheus-client).

- ``lineage_cache_hits_total`` and ``lineage_cache_misses_total{reason}``: runs recorded through this server's
  store API (``POST /api/v1/store/runs`` answered 201): a CACHED run is a hit, a RUNNING one a miss, labelled with
  the :class:`~lineage_core.runs.ReasonKind` of its first reason (what caused it; the reasons arrive as text and
  are read back by :func:`reason_kind`). Counted before the answer leaves, so a client that got its 201 is in the
  next scrape.
- ``lineage_compute_seconds_saved_total``: per hit, the duration of the run that produced the value.
- ``lineage_ingest_events_total{outcome}``: OpenLineage events the ingest routes took (``stored``,
  ``duplicate``) or refused (``rejected``: every event of a refused request; a body that is no event counts one).
- ``lineage_http_request_duration_seconds{route,method,status}``: every request, by route template (``unmatched``
  when none), method and status class (``2xx``…), so the label sets stay bounded whatever paths clients send.
- ``lineage_store_errors_total{route}``: requests the store could not answer: a :class:`StoreError` (503; not the
  404 of an unknown run or the 409 of a conflict), or the database driver's own error reaching no handler (500).
- ``lineage_saved_*{namespace}`` (``runs``, ``hits``, ``compute_seconds``, ``gpu_hours``, ``tokens``,
  ``cost_usd``, each ``_total``): what the cache saved over the store's whole history, per namespace, computed
  from the store as ``GET /api/v1/stats/savings`` computes it (:mod:`lineage_core.store.savings`; every replica
  reports the same store: take ``max()``, not ``sum()``). Recomputed at most every :data:`SAVINGS_TTL` seconds;
  a garbage collection that deletes runs lowers them.

prometheus-client comes with the ``server`` extra; a server run from a venv without it (an Airflow worker's, which
has FastAPI of its own) counts nothing and answers ``/metrics`` 503 saying what to install.

Each process counts its own requests: behind a Service, Prometheus scrapes every replica (the chart's
ServiceMonitor) and ``sum()`` adds them up. The route needs the ``read`` scope, or none with
``LINEAGE_SERVER_ANONYMOUS_READ=lineage``; a namespace-limited token is refused (the counters span namespaces).
"""

from __future__ import annotations

import inspect
import json
import re
import threading
import time
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.routing import BaseRoute, Match

from ..errors import RunNotFoundError, StoreConflictError, StoreError
from ..runs import ReasonKind
from ..store import Store
from .auth import LINEAGE, every_namespace
from .validation import error

ROUTE_KEY = "lineage.metrics.route"  # the request scope's RouteNote (copies of the scope share it)
RUNS_PATH = "/api/v1/store/runs"  # where a task records its hits and misses (store_api.insert_run)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REMEMBERED = 10_000  # producing runs' durations kept (a finished run's duration never changes)
_MAX_RECORDED = 1 << 20  # bytes of a run body looked at (a run row is far smaller; the route bounds it)
_DRIVERS = frozenset({"sqlalchemy", "psycopg", "psycopg2", "sqlite3"})
SAVINGS_TTL = 15.0  # seconds a scrape's savings report is reused (each one reads every hit of the store)
_SAVED = (("runs", "lookups", "Runs of cached steps"), ("hits", "hits", "Cache hits"),
          ("compute_seconds", "compute_seconds_saved", "Seconds of computation hits saved (producing runs' durations)"),
          ("gpu_hours", "gpu_hours_saved", "GPU-hours hits saved (producing runs' GPUs times their durations)"),
          ("tokens", "tokens_saved", "LLM tokens hits saved"), ("cost_usd", "cost_usd_saved", "LLM USD hits saved"))

# The words of runs.Reason's constructors, one pattern each (tests/test_metrics.py holds them to runs.py);
# anything else a miss starts with is a key difference (explain_difference's words).
_REASONS = [(kind, re.compile(pattern, re.DOTALL)) for kind, pattern in (
    (ReasonKind.HIT, r"cache hit: key \S+ from run \S+( \(computed concurrently: this call waited for it\))?"),
    (ReasonKind.FIRST_RUN, r"first run of .+ \(no previous key in namespace .+\)"),
    (ReasonKind.SAME_KEY, re.escape("same key as a previous run, but its entry was invalidated or never stored")),
    (ReasonKind.REFRESH, re.escape("refresh requested")),
    (ReasonKind.CACHE_OFF, re.escape("caching is off (cache='off' or LINEAGE_CACHE=off)")),
    (ReasonKind.READS_DISABLED, r"cache reads are disabled \(mode \S+\)"),
    (ReasonKind.EXPIRED, r"cached value is -?\d+s old, older than max_age=\S+s"),
    (ReasonKind.DAMAGED, r"stored .+ failed verification \(.*\)"),
    (ReasonKind.OUTPUT_CHANGED, r"output .+ since run \S+ wrote it"),
    (ReasonKind.TOOK_OVER, r"took over from run \S+, whose worker stopped"),
)]


def reason_kind(text: str) -> ReasonKind:
    """The kind of a stored reason (reasons travel and are kept as their text)."""
    return next((kind for kind, pattern in _REASONS if pattern.fullmatch(text)), ReasonKind.CHANGED)


class Metrics:
    """One server's counters, in a registry of its own (two apps in one process count apart)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._durations: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self.registry: Any = None
        try:
            from prometheus_client import CollectorRegistry, Counter, Histogram
        except ImportError:
            return  # not counting (see the module's docstring)
        self.registry = r = CollectorRegistry()
        self.hits = Counter("lineage_cache_hits", "Cache hits recorded through this server", registry=r)
        self.misses = Counter("lineage_cache_misses", "Cache misses recorded through this server, by the kind of "
                              "their first reason", ["reason"], registry=r)
        self.saved = Counter("lineage_compute_seconds_saved", "Seconds of computation hits saved (each hit: the "
                             "duration of the run that produced its value)", registry=r)
        self.ingested = Counter("lineage_ingest_events", "OpenLineage events taken by the ingest routes",
                                ["outcome"], registry=r)
        self.latency = Histogram("lineage_http_request_duration_seconds", "Requests by route template, method "
                                 "and status class", ["route", "method", "status"], registry=r)
        self.store_errors = Counter("lineage_store_errors", "Requests the store could not answer",
                                    ["route"], registry=r)
        for kind in ReasonKind:
            if kind is not ReasonKind.HIT:
                self.misses.labels(kind.value)
        for outcome in ("stored", "duplicate", "rejected"):
            self.ingested.labels(outcome)
        self.savings = SavingsCollector(store)
        r.register(self.savings)

    @property
    def counting(self) -> bool:
        return self.registry is not None

    def ingest(self, stored: int = 0, duplicates: int = 0, rejected: int = 0) -> None:
        if not self.counting:
            return
        for outcome, n in (("stored", stored), ("duplicate", duplicates), ("rejected", rejected)):
            if n:
                self.ingested.labels(outcome).inc(n)

    def store_error(self, route: str) -> None:
        if self.counting:
            self.store_errors.labels(route).inc()

    def run_recorded(self, body: bytes) -> None:
        """A run the store API took (``RUNS_PATH`` answered 201): a hit or a miss."""
        try:
            run = json.loads(body)
        except ValueError:
            return
        if not isinstance(run, dict):
            return
        reasons = run.get("reasons") or []
        if run.get("status") == "CACHED":
            self.hit_recorded(run.get("source_run_id"))
        elif run.get("status") == "RUNNING":
            first = reasons[0] if reasons and isinstance(reasons[0], str) else ""
            self.misses.labels(reason_kind(first).value).inc()

    def hit_recorded(self, source_run_id: Any) -> None:
        """A CACHED run the store API recorded (``RUNS_PATH``, or a hit's one request: server.store_hits)."""
        if self.counting:
            self.hits.inc()
            self.saved.inc(self._duration(source_run_id))

    def _duration(self, run_id: Any) -> float:
        if not isinstance(run_id, str):
            return 0.0
        with self._lock:
            if run_id in self._durations:
                self._durations.move_to_end(run_id)
                return self._durations[run_id]
        try:
            run = self.store.get_run(run_id)
        except RunNotFoundError:
            return 0.0
        if run["ended_at"] is None:  # still running: nothing known yet, nothing remembered
            return 0.0
        seconds = max(float(run["ended_at"]) - float(run["started_at"]), 0.0)
        with self._lock:
            self._durations[run_id] = seconds
            while len(self._durations) > _REMEMBERED:
                self._durations.popitem(last=False)
        return seconds


class SavingsCollector:
    """The store's savings per namespace as counters (``lineage_saved_*_total``), read at scrape time."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cached: tuple[float, dict[str, dict[str, Any]]] | None = None
        self._lock = threading.Lock()

    def per_namespace(self) -> dict[str, dict[str, Any]]:
        from ..store.savings import savings

        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > SAVINGS_TTL:
                try:
                    groups = savings(self.store, by="namespace").to_dict()["groups"]
                except Exception as e:  # a scrape never fails for the store: the last figures stay
                    if not store_failure(e):
                        raise
                    return self._cached[1] if self._cached else {}
                self._cached = (now, {g["group"]: g for g in groups})
            return self._cached[1]

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily

        groups = self.per_namespace()
        for name, field, doc in _SAVED:
            family = CounterMetricFamily(f"lineage_saved_{name}", f"{doc}, from the store", labels=["namespace"])
            for namespace, group in sorted(groups.items()):
                family.add_metric([namespace], float(group[field]))
            yield family

    def describe(self) -> list[Any]:
        return []  # described at collection (registering must not read the store)


class RouteNote:
    """Where the route a request reached writes its template (:func:`note_route`)."""

    __slots__ = ("path",)

    def __init__(self) -> None:
        self.path: str | None = None


async def note_route(request: Request) -> None:
    """The app's first dependency (``FastAPI(dependencies=[NOTE_ROUTE])``): the reached route's template, for the
    middleware outside the router, without matching the path again on every request."""
    note = request.scope.get(ROUTE_KEY)
    route = request.scope.get("route")
    if isinstance(note, RouteNote) and route is not None:
        note.path = str(getattr(route, "path", "")) or None


NOTE_ROUTE = Depends(note_route)


def store_failure(e: BaseException) -> bool:
    """The store could not answer: our StoreError (not a 404 or 409 one), or the database driver's own error."""
    if isinstance(e, StoreError):
        return not isinstance(e, RunNotFoundError | StoreConflictError)
    return type(e).__module__.split(".", 1)[0] in _DRIVERS


def flat_routes(app: FastAPI) -> list[BaseRoute]:
    """Every route of ``app`` with its full path (FastAPI 0.16x keeps included routers as include contexts)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before include contexts: the app's routes are flat
        return list(app.router.routes)
    return [context.route for context in iter_route_contexts(app.routes)]


def route_template(routes: list[BaseRoute], scope: dict[str, Any]) -> str:
    """The template of the route a request names (``/api/v1/runs/{run_id}``), matched on the raw path so that
    an encoded ``/`` inside a name stays inside its segment; ``unmatched`` when no route has that path."""
    raw = scope.get("raw_path")
    probe = {**scope, "path": raw.split(b"?", 1)[0].decode("latin-1")} if raw else scope
    partial = None
    for route in routes:
        match, _ = route.matches(probe)
        if match is Match.FULL:
            return str(getattr(route, "path", "unmatched"))
        if match is Match.PARTIAL and partial is None:  # the path is a route's, the method is not (405)
            partial = str(getattr(route, "path", "unmatched"))
    return partial or "unmatched"


class MetricsMiddleware:
    """Outermost: times every request until its answer's last part is handed on, and counts the runs the store API
    took.

    A request is counted (and its time taken) just before the last part of its answer goes out, not after: a client
    that has read an answer then finds it in ``/metrics`` (tests count requests that way). So the time leaves out
    that last write (a one-part answer's whole body) and any background task; an answer that never completes (an
    exception, a client gone) is counted when the app returns."""

    def __init__(self, app: Any, metrics: Metrics, fastapi: FastAPI) -> None:
        self.app, self.metrics, self.fastapi = app, metrics, fastapi
        self._routes: list[BaseRoute] | None = None

    @property
    def routes(self) -> list[BaseRoute]:
        if self._routes is None:  # on the first request: every router is included by then
            self._routes = flat_routes(self.fastapi)
        return self._routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        note = RouteNote()
        scope = {**scope, ROUTE_KEY: note}
        status = 500  # an exception that escapes is answered 500 further out
        watched = scope["method"] == "POST" and scope["path"] == RUNS_PATH
        body = bytearray()
        counted = False

        def count() -> None:
            nonlocal counted
            if not counted:
                counted = True
                method = scope["method"] if scope["method"] in _METHODS else "other"
                self.metrics.latency.labels(self.template(scope, note), method,
                                            f"{status // 100}xx").observe(time.perf_counter() - started)

        async def receive_watched() -> Any:
            message = await receive()
            if message["type"] == "http.request" and len(body) < _MAX_RECORDED:
                body.extend(message.get("body", b""))
            return message

        async def send_counted(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if watched and status == 201:
                    await run_in_threadpool(self.metrics.run_recorded, bytes(body))
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                count()
            await send(message)

        try:
            await self.app(scope, receive_watched if watched else receive, send_counted)
        except Exception as e:
            if store_failure(e):  # answered 500 further out (validation's last handler)
                self.metrics.store_error(self.template(scope, note))
            raise
        finally:
            count()

    def template(self, scope: dict[str, Any], note: RouteNote) -> str:
        """The reached route's, else (refused before any route ran: no such path, a 405, a bad path) matched."""
        return note.path or route_template(self.routes, scope)


def install(app: FastAPI, metrics: Metrics) -> None:
    """Count on ``app`` (call last: the middleware must be the outermost) and serve ``GET /metrics``."""
    app.state.metrics = metrics
    app.include_router(metrics_router(metrics))
    if not metrics.counting:
        return
    answer = app.exception_handlers[StoreError]  # validation.install's: 404, 409 or 503

    async def counted(request: Request, e: Exception) -> Any:
        if store_failure(e):
            metrics.store_error(str(getattr(request.scope.get("route"), "path", "unmatched")))
        response = answer(request, e)
        return await response if inspect.isawaitable(response) else response

    app.add_exception_handler(StoreError, counted)
    app.add_middleware(MetricsMiddleware, metrics=metrics, fastapi=app)


def metrics_router(metrics: Metrics) -> APIRouter:
    api = APIRouter(tags=["metrics"])

    @api.get("/metrics", dependencies=[Depends(LINEAGE), Depends(every_namespace)])
    def scrape(request: Request) -> Response:
        """The text format Prometheus asks for in ``Accept`` (OpenMetrics or 0.0.4; 0.0.4 when it asks none)."""
        if not metrics.counting:
            return error(503, "this server counts nothing: /metrics needs prometheus-client "
                              "(pip install 'lineage-core[server]')")
        from prometheus_client.exposition import choose_encoder

        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(metrics.registry), headers={"Content-Type": content_type})

    return api
