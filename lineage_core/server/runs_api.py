"""Our own runs over HTTP (scope ``read``): what ``lineage runs``, ``show``, ``explain`` and ``events show`` print
when ``LINEAGE_STORE_URL`` names a lineage server (lineage_core/cli/server_source.py is the client).

``GET /api/v1/runs`` (``job``, ``limit`` 1..10,000): run rows, newest first, as the store lists them;
``GET /api/v1/runs/{run_id}``: one run (by id or unique prefix of 6+ characters) with its key manifest; both
with each run's ``metrics`` (a CACHED run's are its source run's: :func:`..metrics.run_metrics`);
``GET /api/v1/runs/{run_id}/events``: its OpenLineage RunEvents as :mod:`..openlineage.records` builds them.

A namespace-limited token sees only runs of its namespaces: a run outside them is 403 (the scope dependency
resolves the run's namespace from the path), and the list leaves them out — it scans at most :data:`SCAN`
rows for them, so a token whose namespaces hold few of the newest runs may get fewer than ``limit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from ..errors import RunNotFoundError
from ..metrics import run_metrics, with_run_metrics
from ..openlineage.records import run_events
from ..store import Store
from .auth import READ, Caller
from .validation import MAX_NAME, Limit, error

SCAN = 10_000  # rows a namespace-limited listing looks through at most

ReadCaller = Annotated[Caller, Depends(READ)]
JobFilter = Annotated[str | None, Query(min_length=1, max_length=MAX_NAME)]


def visible(fetch: Callable[[int], list[dict[str, Any]]], limit: int, caller: Caller) -> list[dict[str, Any]]:
    """The first ``limit`` rows of ``fetch(n)`` (the newest ``n``) in the caller's namespaces: one query for a
    caller without limits, a widening scan of at most :data:`SCAN` rows for one with."""
    n = limit
    while True:
        rows = fetch(n)
        if not caller.limited:
            return rows
        kept = [r for r in rows if caller.allows(r["namespace"])]
        if len(kept) >= limit or len(rows) < n or n >= SCAN:
            return kept[:limit]
        n = min(n * 4, SCAN)


def runs_router(store: Store) -> APIRouter:
    api = APIRouter(prefix="/api/v1/runs", tags=["lineage-core"])

    @api.get("", response_model=None)
    def list_runs(caller: ReadCaller, job: JobFilter = None, limit: Limit = 50) -> Any:
        return JSONResponse(with_run_metrics(store, visible(lambda n: store.runs(job=job, limit=n), limit, caller)))

    @api.get("/{run_id}", response_model=None, dependencies=[Depends(READ)])
    def get_run(run_id: str) -> Any:
        try:
            run = store.get_run(run_id)
        except RunNotFoundError as e:
            return error(404, str(e))
        return JSONResponse({**run, "manifest": store.manifest(run["cache_key"]) if run["cache_key"] else None,
                             "metrics": run_metrics(store, run)})

    @api.get("/{run_id}/events", response_model=None, dependencies=[Depends(READ)])
    def get_run_events(run_id: str) -> Any:
        try:
            return JSONResponse(run_events(store, run_id))
        except RunNotFoundError as e:
            return error(404, str(e))

    return api
