"""``GET /api/v1/stats/savings`` (scope ``read``): what the cache saved, as ``lineage stats`` prints it.

Query parameters: ``since`` — a duration back from now (``7d``, ``12h``, ``3600``) or an ISO 8601 time (UTC when
it names no zone); none: the whole history — and ``by`` (``job``, ``namespace`` or ``model``; default ``job``).
The answer is :meth:`~lineage_core.store.savings.SavingsReport.to_dict`, computed from the store
(:mod:`lineage_core.store.savings`). A namespace-limited token gets the same report over its namespaces only
(its totals are theirs). Bad parameters are 400 in Marquez's ``{code, message, details}``.

Registered before the Marquez read API, whose ``/api/v1/stats/{what}`` would otherwise take ``savings``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ..errors import ConfigError
from ..store import Store
from ..store.savings import GROUPINGS, savings
from .auth import READ, Caller
from .validation import BadRequest, timestamp

ReadCaller = Annotated[Caller, Depends(READ)]
Text = Annotated[str | None, Query(max_length=64)]


def parse_since(text: str, now: float | None = None) -> float:
    """``7d``, ``12h``… back from ``now``, or an ISO 8601 time: epoch seconds; :class:`BadRequest` otherwise."""
    from ..retention import parse_duration

    try:
        return (time.time() if now is None else now) - parse_duration(text)
    except ConfigError:
        pass
    try:
        return timestamp(text, "since")
    except BadRequest:
        raise BadRequest(f"since {text[:64]!r}: give a duration (7d, 12h, 3600) or an ISO 8601 time") from None


def savings_router(store: Store) -> APIRouter:
    api = APIRouter(prefix="/api/v1/stats", tags=["lineage-core"])

    @api.get("/savings", response_model=None)
    async def get_savings(caller: ReadCaller, since: Text = None, by: Text = None) -> Any:
        group = by or "job"
        if group not in GROUPINGS:
            raise BadRequest(f"by {group[:64]!r}: group by one of {', '.join(GROUPINGS)}")
        start = parse_since(since) if since else None
        limit = list(caller.namespaces) if caller.limited else None
        report = await run_in_threadpool(savings, store, since=start, by=group, namespaces=limit)
        return JSONResponse(report.to_dict())

    return api
