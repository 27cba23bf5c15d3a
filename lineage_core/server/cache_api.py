"""lineage-core's own read API: the cache entries (what ``lineage cache ls`` lists), a cache entry by key, a run's
environment snapshot, two runs' diff. A namespace-limited token lists only entries of its namespaces."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..diff import diff_runs
from ..errors import RunNotFoundError
from ..store import Store
from .auth import CACHE, READ, every_namespace
from .runs_api import JobFilter, ReadCaller, visible
from .validation import Limit, error


def cache_router(store: Store) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["lineage-core"])

    @api.get("/cache", response_model=None)
    def list_entries(caller: ReadCaller, job: JobFilter = None, limit: Limit = 200) -> Any:
        return JSONResponse(visible(lambda n: store.entries(job=job, limit=n), limit, caller))

    @api.get("/cache/{key}", response_model=None, dependencies=[Depends(CACHE)])
    def get_cache_entry(key: str) -> Any:
        entry = store.lookup(key)
        if entry is None:
            return error(404, f"no live cache entry for key '{key}'")
        run = store.get_run(entry.run_id)
        return {
            "key": key, "job": {"namespace": run["namespace"], "name": run["job"]}, "runId": entry.run_id,
            "artifact": {"hash": entry.artifact_hash, "uri": store.artifacts.uri_for(entry.artifact_hash),
                         "materializer": entry.materializer, "meta": entry.meta},
            "valueHash": entry.value_hash, "createdAt": entry.created_at, "manifest": store.manifest(key),
        }

    @api.get("/runs/diff", response_model=None, dependencies=[Depends(READ), Depends(every_namespace)])
    def get_run_diff(a: str, b: str) -> Any:
        try:
            return diff_runs(store, a, b).to_dict()
        except RunNotFoundError as e:
            return error(404, str(e))

    @api.get("/runs/{run_id}/environment", response_model=None, dependencies=[Depends(READ)])
    def get_run_environment(run_id: str) -> Any:
        try:
            run = store.get_run(run_id)
        except RunNotFoundError as e:
            return error(404, str(e))
        env = store.get_environment(run["environment_hash"]) if run["environment_hash"] else None
        if env is None:
            return error(404, f"run '{run['id']}' recorded no environment")
        return {"runId": run["id"], "environmentHash": run["environment_hash"], "environment": env.to_dict()}

    return api
