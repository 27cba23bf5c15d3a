"""The admin API (scope ``admin``): invalidate entries, collect garbage, pin runs, and read the audit trail.

``POST /api/v1/admin/invalidate`` ``{"key"?, "job"?}``, ``POST /api/v1/admin/gc`` ``{"olderThan"?, "keepLast"?,
"grace"?, "dryRun"?}``, ``PUT|DELETE /api/v1/admin/pins/{run_id}`` ``{"note"?}``, ``GET /api/v1/audit``
(``token``, ``action``, ``since`` (ISO 8601), ``limit`` 1..10,000), newest first, and ``POST
/api/v1/admin/audit/prune`` ``{"olderThan"}`` (the trail's retention: rows older than the duration go; the prune is
itself a row). Invalidate, gc and the audit trail act across namespaces: a namespace-limited admin token may only
pin and unpin runs of its namespaces.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from .. import retention
from ..errors import ConfigError, RunNotFoundError
from ..store import Store
from ..store.audit import MAX_LIMIT, AuditLog
from .auth import ADMIN, every_namespace
from .read_api import error


class InvalidateIn(BaseModel):
    key: str | None = Field(None, min_length=1, max_length=80)
    job: str | None = Field(None, min_length=1, max_length=512)


class GcIn(BaseModel):
    olderThan: str | None = Field(None, max_length=32)  # the API's camelCase
    keepLast: int | None = Field(None, ge=0, le=1_000_000)
    grace: str = Field("1h", max_length=32)
    dryRun: bool = False


class PinIn(BaseModel):
    note: str | None = Field(None, max_length=1000)


class PruneIn(BaseModel):
    olderThan: str = Field(min_length=1, max_length=32)  # a duration: 90d


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def admin_router(store: Store) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["admin"], dependencies=[Depends(ADMIN)])
    trail = AuditLog(store)

    @api.post("/admin/invalidate", response_model=None, dependencies=[Depends(every_namespace)])
    def invalidate(body: InvalidateIn) -> Any:
        if not body.key and not body.job:
            return error(400, "give a key (or key prefix) or a job name")
        return {"invalidated": store.invalidate(key=body.key, job=body.job)}

    @api.post("/admin/gc", response_model=None, dependencies=[Depends(every_namespace)])
    def gc(body: GcIn) -> Any:
        try:
            plan = retention.plan_garbage(
                store, older_than=retention.parse_duration(body.olderThan) if body.olderThan else None,
                keep_last=body.keepLast, grace=retention.parse_duration(body.grace))
        except ConfigError as e:
            return error(400, str(e))
        if body.dryRun:
            return {**plan.report().to_dict(), "plan": plan.to_dict()}
        return retention.apply_plan(store, plan).to_dict()

    @api.put("/admin/pins/{run_id}", response_model=None)
    def pin(run_id: str, body: PinIn) -> Any:
        try:
            return {"pinned": retention.pin(store, run_id, body.note)}
        except RunNotFoundError as e:
            return error(404, str(e))

    @api.delete("/admin/pins/{run_id}", response_model=None)
    def unpin(run_id: str) -> Any:
        try:
            return {"unpinned": retention.unpin(store, run_id)}
        except RunNotFoundError as e:
            return error(404, str(e))

    @api.post("/admin/audit/prune", response_model=None, dependencies=[Depends(every_namespace)])
    def prune_audit(body: PruneIn) -> Any:
        try:
            before = time.time() - retention.parse_duration(body.olderThan)
        except ConfigError as e:
            return error(400, str(e))
        return {"pruned": trail.prune(before)}  # this request's own row is written after it: it stays

    @api.get("/audit", response_model=None, dependencies=[Depends(every_namespace)])
    def audit(token: Annotated[str | None, Query(max_length=64)] = None,
              action: Annotated[str | None, Query(max_length=64)] = None, since: str | None = None,
              limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100) -> Any:
        try:
            after = dt.datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
        except ValueError:
            return error(400, f"since={str(since)[:40]!r} is not an ISO 8601 time (e.g. 2026-12-01T09:00:00Z)")
        if after is not None and after.tzinfo is None:
            after = after.replace(tzinfo=dt.timezone.utc)
        # times are shown to the microsecond (rounded): a row's own time given back as since includes it
        rows = trail.query(token, action, after.timestamp() - 1e-6 if after else None, limit)
        return {"audit": [{**r.to_dict(), "at": _iso(r.at)} for r in rows]}

    return api
