"""Tags over HTTP: what ``lineage tag``, ``lineage tags`` and ``lineage rollback`` ask a lineage server.

``GET /api/v1/run-tags`` (``job``, ``run``; scope ``read``): the current tags, most recently moved first;
``GET /api/v1/run-tags/history`` (``job``, ``name``; scope ``read``): every move of one tag, newest first (404 for
a tag never set); ``PUT /api/v1/admin/run-tags`` ``{"run", "name", "job"?, "action"?}`` (scope ``admin``, like
pins: a tag pins its run against gc): moves the tag, recorded with the caller's token name as who moved it, and
audited as every admin write is. A namespace-limited token sees and moves only tags of its namespaces. ``JOB@NAME``
as a run id (``/api/v1/runs/{run_id}``, ``/api/v1/runs/diff``, the store API) resolves in the store itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .. import tags
from ..errors import ConfigError, RunNotFoundError
from ..store import Store
from .auth import AdminCaller
from .runs_api import JobFilter, ReadCaller
from .validation import MAX_NAME, error

TagName = Annotated[str, Query(min_length=1, max_length=128)]


class TagIn(BaseModel):
    run: str = Field(min_length=1, max_length=MAX_NAME)  # an id, a unique prefix or JOB@NAME
    name: str = Field(min_length=1, max_length=128)
    job: str | None = Field(None, min_length=1, max_length=512)
    action: Literal["tag", "rollback"] = "tag"


def tags_router(store: Store) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["lineage-core"])

    @api.get("/run-tags", response_model=None)
    def list_tags(caller: ReadCaller, job: JobFilter = None,
                  run: Annotated[str | None, Query(min_length=1, max_length=MAX_NAME)] = None) -> Any:
        try:
            found = tags.tags(store, job, run)
        except RunNotFoundError as e:
            return error(404, str(e))
        return JSONResponse([t.to_dict() for t in found if caller.allows(t.namespace)])

    @api.get("/run-tags/history", response_model=None)
    def tag_history(caller: ReadCaller, job: Annotated[str, Query(min_length=1, max_length=512)],
                    name: TagName) -> Any:
        try:
            moves = [m for m in tags.history(store, job, name) if caller.allows(m.namespace)]
        except RunNotFoundError as e:
            return error(404, str(e))
        if not moves:
            return error(404, f"no tag {name!r} on job {job!r} in store {store.url}")
        return JSONResponse([m.to_dict() for m in moves])

    @api.put("/admin/run-tags", response_model=None)
    def move_tag(body: TagIn, caller: AdminCaller) -> Any:
        caller.describe(f"{body.job or '(its job)'}@{body.name} -> {body.run}"[:1000])
        try:
            run = store.get_run(body.run)
            caller.require(run["namespace"])  # the tag lives in the run's namespace
            return tags.move_tag(store, run["id"], body.name, body.job, caller.name, body.action).to_dict()
        except RunNotFoundError as e:
            return error(404, str(e))
        except ConfigError as e:
            return error(400, str(e))

    return api
