"""The Marquez read API its web UI calls (same paths, parameters, JSON shapes and semantics as Marquez 0.51),
over the ingested lineage tables, which our own runs join on every read (:mod:`..openlineage.sync`): namespaces,
jobs, runs, facets, datasets, versions, the lineage and column-lineage graphs, search, tags and the dashboard's
stats."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ..errors import ConfigError
from ..openlineage import column_lineage, stats, views
from ..openlineage.graph import MAX_DEPTH, exists, is_node_id, lineage, parse_field_node_id, parse_node_id
from ..openlineage.job_versions import job_versions
from ..openlineage.sync import sync_due, sync_runs_throttled
from ..store import Store
from .auth import LINEAGE, every_namespace
from .paths import segment
from .validation import INT64, Limit, Offset, check_name, check_node
from .validation import error as error  # where routes have always found it

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the server extra installs it
    _orjson = None  # type: ignore[assignment]

RUN_STATES = {"NEW", "RUNNING", "COMPLETED", "FAILED", "ABORTED"}  # Marquez's RunState: its API's words, not RunStatus
Depth = Annotated[int, Query(ge=0, le=INT64[1])]


class _Json(JSONResponse):
    """JSON rendered by orjson where it is installed (the server extra pins it): a depth-10 graph's ~100 kB cost
    ~8 ms in the standard library and under 1 ms there. The same bytes' meaning either way (compact, UTF-8); what
    orjson refuses (an integer past 64 bits) is rendered by the standard library."""

    def render(self, content: Any) -> bytes:
        if _orjson is not None:
            try:
                return _orjson.dumps(content)
            except TypeError:
                pass
        return super().render(content)


def _ok(found: Any) -> JSONResponse:
    """A view's JSON as it is: the views build JSON values only, so FastAPI's encoder need not walk them again
    (which, for a large graph, costs more than the query)."""
    return found if isinstance(found, JSONResponse) else _Json(found)


def _not_a_node(text: str) -> JSONResponse:
    """Marquez's answer to a nodeId its NodeId cannot hold (a query parameter it cannot convert): 404."""
    return error(404, f"node ID ({text[:200]}) must start with 'dataset', 'datasetField', 'job' or 'run'")


def _missing(kind: str, namespace: str, name: str) -> JSONResponse:
    return error(404, f"{kind} '{segment(namespace)}:{segment(name)}' not found")


def read_router(store: Store) -> APIRouter:
    async def fresh() -> None:  # on the event loop: a thread hop only when a sync is due (~1 ms less per read)
        if sync_due(store):
            await run_in_threadpool(sync_runs_throttled, store)

    # read scope (open with LINEAGE_SERVER_ANONYMOUS_READ=lineage), checked before any sync work
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(LINEAGE), Depends(fresh)], tags=["Marquez read API"])
    everywhere = [Depends(every_namespace)]  # answers across namespaces: not for a namespace-limited token

    @api.get("/namespaces", dependencies=everywhere)
    def get_namespaces(limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        return views.namespaces(store, limit, offset)

    @api.get("/namespaces/{namespace}", response_model=None)
    def get_namespace(namespace: str) -> Any:
        ns = segment(namespace)
        found = views.namespaces(store, 1, 0, name=ns)["namespaces"]
        return found[0] if found else error(404, f"namespace '{ns}' not found")

    @api.get("/jobs", dependencies=everywhere)
    def all_jobs(limit: Limit = 100, offset: Offset = 0,
                 lastRunStates: Annotated[list[str] | None, Query()] = None) -> Any:
        return _jobs(None, limit, offset, lastRunStates)

    @api.get("/namespaces/{namespace}/jobs")
    def ns_jobs(namespace: str, limit: Limit = 100, offset: Offset = 0,
                lastRunStates: Annotated[list[str] | None, Query()] = None) -> Any:
        return _jobs(segment(namespace), limit, offset, lastRunStates)

    def _jobs(ns: str | None, limit: int, offset: int, states: list[str] | None) -> Any:
        bad = sorted(set(states or []) - RUN_STATES)
        if bad:
            return error(400, f"lastRunStates {bad} not in {sorted(RUN_STATES)}")
        return _ok(views.list_jobs(store, ns, limit, offset, states))

    @api.get("/namespaces/{namespace}/jobs/{job}", response_model=None)
    def get_job(namespace: str, job: str) -> Any:
        return _ok(views.get_job(store, segment(namespace), segment(job)) or _missing("job", namespace, job))

    @api.get("/namespaces/{namespace}/jobs/{job}/runs", response_model=None)
    def get_runs(namespace: str, job: str, limit: Limit = 100, offset: Offset = 0) -> Any:
        if views.get_job(store, segment(namespace), segment(job)) is None:
            return _missing("job", namespace, job)
        return _ok(views.job_runs(store, segment(namespace), segment(job), limit, offset))

    @api.get("/namespaces/{namespace}/jobs/{job}/versions", response_model=None)
    def get_job_versions(namespace: str, job: str, limit: Limit = 100, offset: Offset = 0) -> Any:
        found = job_versions(store, segment(namespace), segment(job), limit, offset)
        return _ok(found if found is not None else _missing("job", namespace, job))

    @api.get("/jobs/runs/{run_id}", response_model=None)
    def get_run(run_id: str) -> Any:
        return _ok(views.get_run(store, run_id) or error(404, f"run '{run_id}' not found"))

    @api.get("/jobs/runs/{run_id}/facets", response_model=None)
    def get_run_facets(run_id: str, type: str) -> Any:
        if type not in ("run", "job"):
            return error(400, "type must be 'run' or 'job'")
        known, found = views.run_facets(store, run_id, type)
        if not known:
            return error(404, f"run '{run_id}' not found")
        return _ok(found) if found is not None else Response(status_code=200)  # as Marquez: no facets, no body

    @api.get("/namespaces/{namespace}/datasets", response_model=None)
    def ns_datasets(namespace: str, limit: Limit = 100, offset: Offset = 0) -> Any:
        return _ok(views.list_datasets(store, segment(namespace), limit, offset))

    @api.get("/namespaces/{namespace}/datasets/{dataset}", response_model=None)
    def get_dataset(namespace: str, dataset: str) -> Any:
        found = views.get_dataset(store, segment(namespace), segment(dataset))
        return _ok(found or _missing("dataset", namespace, dataset))

    @api.get("/namespaces/{namespace}/datasets/{dataset}/versions", response_model=None)
    def get_versions(namespace: str, dataset: str, limit: Limit = 100, offset: Offset = 0) -> Any:
        if views.get_dataset(store, segment(namespace), segment(dataset)) is None:
            return _missing("dataset", namespace, dataset)
        return _ok(views.dataset_versions(store, segment(namespace), segment(dataset), limit, offset))

    @api.get("/lineage", response_model=None, dependencies=everywhere)
    def get_lineage(nodeId: str, depth: Depth = 20) -> Any:
        if not is_node_id(nodeId):
            return _not_a_node(nodeId)
        try:
            node = parse_node_id(nodeId)
        except ConfigError as e:
            return error(400, str(e))
        check_node(node.namespace, node.name)
        if not exists(store, node):
            return error(404, f"{node.type} '{node.namespace}:{node.name}' not found")
        return _ok(lineage(store, node, depth=min(depth, MAX_DEPTH)))

    @api.get("/column-lineage", response_model=None, dependencies=everywhere)
    def get_column_lineage(nodeId: str, depth: Depth = 20, withDownstream: bool = False) -> Any:
        if not is_node_id(nodeId):
            return _not_a_node(nodeId)
        try:
            dataset, field, versioned = parse_field_node_id(nodeId)
        except ConfigError as e:
            return error(400, str(e))
        if versioned:
            return error(400, "Node version cannot be specified when withDownstream is true" if withDownstream
                         else "a versioned nodeId is not supported here: name the dataset or field without '#…'")
        check_node(*dataset)
        if field is not None:
            check_name(field, "the field")
        found = column_lineage.graph(store, dataset, field, min(depth, MAX_DEPTH), withDownstream)
        return _ok(found if found is not None else error(404, f"node '{nodeId}' not found"))

    @api.get("/stats/lineage-events", response_model=None, dependencies=everywhere)
    def get_event_stats(period: str | None = None, timezone: str | None = None) -> Any:
        try:
            return stats.lineage_events(store, period or "", timezone)
        except ConfigError as e:
            return error(400, str(e))

    @api.get("/stats/{what}", response_model=None, dependencies=everywhere)
    def get_stats(what: str, period: str | None = None, timezone: str | None = None) -> Any:
        if what not in ("jobs", "datasets", "sources"):
            return error(404, f"no stats for '{segment(what)}': jobs, datasets, sources or lineage-events")
        try:
            return stats.totals(store, what, period or "", timezone)  # type: ignore[arg-type]
        except ConfigError as e:
            return error(400, str(e))

    @api.get("/search", response_model=None, dependencies=everywhere)
    def get_search(q: str, filter: str | None = None, sort: str = "NAME",
                   limit: Annotated[int, Query(ge=1, le=1000)] = 10, namespace: str | None = None) -> Any:
        if not q.strip():
            return error(400, "q must not be blank")
        if filter not in (None, "JOB", "DATASET") or sort not in ("NAME", "UPDATE_AT"):
            return error(400, "filter must be JOB or DATASET; sort must be NAME or UPDATE_AT")
        return views.search(store, q, filter, sort, limit, namespace)

    @api.get("/tags")
    def get_tags() -> dict[str, Any]:
        return {"tags": []}

    return api
