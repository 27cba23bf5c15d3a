"""``POST /api/v1/store/hits/{key}``: a task's cache hit in one request (lookup, and the CACHED run recorded with it).

Through the plain store routes a hit costs three round trips (the entry, the blob, the run). Here the server looks
the key up and, when there is a live entry (no older than the client's ``max_age``, on the server's clock), records
the CACHED run the client described, with the source run and the reason taken from the entry, and answers the entry
— its blob's digest, size, materializer and meta — and, for a small blob on a local artifact store, the bytes inline.
With no entry it answers ``{"entry": null}``.

Nothing of the trust rules moves to the server: the client still verifies every byte against the digest and decides
how (and whether) the value is loaded (its materializer policy, its return type). A client that refuses the value
ends the run it recorded as FAILED (``PATCH /runs/{run_id}``) and recomputes; such a refused hit is still counted in
``lineage_cache_hits_total`` (the count is of what the server recorded).

Scopes as for the other store routes: ``cache``; a namespace-limited token may only name a key and a job of its own.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ..errors import ArtifactError, StoreConflictError
from ..runs import Reason
from ..status import RunStatus
from ..store import Store
from .auth import CACHE, CacheCaller
from .store_api import Datasets, Hash, JobId, RunId, _checked
from .validation import error

INLINE_MAX = 64 << 10  # bytes: a blob this small comes back in the answer (base64), saving the client a GET


class HitIn(BaseModel):
    """The CACHED run to record if the key has a live entry (lineage_core.store.protocol.HitRequest)."""

    run_id: RunId
    job_id: JobId
    environment_hash: Hash | None = None
    started_at: float
    ended_at: float | None = None
    context: dict[str, Any] | None = None
    concurrent: bool = False
    max_age: float | None = Field(default=None, gt=0)
    inputs: Datasets = []


def hits_router(store: Store) -> APIRouter:
    api = APIRouter(prefix="/api/v1/store", tags=["store"], dependencies=[Depends(CACHE)])
    arts = store.artifacts

    @api.post("/hits/{key}", response_model=None)
    def hit(key: str, body: HitIn, caller: CacheCaller, request: Request) -> Any:
        """The entry for ``key`` (or null) and whether the CACHED run was recorded with it; a small blob inline."""
        _checked(key, "key")
        caller.require_job(body.job_id)
        entry = store.lookup(key)
        if entry is None:
            return _answer({"entry": None, "recorded": False})
        answer: dict[str, Any] = {"entry": asdict(entry), "recorded": False}
        if body.max_age is not None and time.time() - entry.created_at > body.max_age:
            return _answer(answer)  # expired: the client says so and computes
        note = Reason.hit(key, entry.run_id, body.concurrent)
        try:
            store.insert_run(
                id=body.run_id, job_id=body.job_id, status=RunStatus.CACHED.value, cache_key=key,
                source_run_id=entry.run_id, environment_hash=body.environment_hash, started_at=body.started_at,
                ended_at=body.ended_at if body.ended_at is not None else body.started_at, reasons=[str(note)],
                context=body.context or {}, inputs=[d.dataset() for d in body.inputs],
            )
        except StoreConflictError as e:
            return error(409, str(e))
        answer["recorded"] = True
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.hit_recorded(entry.run_id)
        if arts.local and entry.size is not None and entry.size <= INLINE_MAX:
            try:  # opened as every read is (a regular file of the recorded size); the client verifies the bytes
                with arts.open_blob(entry.artifact_hash, entry.size) as f:
                    answer["blob"] = base64.b64encode(f.read(entry.size + 1)).decode("ascii")
            except (ArtifactError, OSError):
                pass  # the client downloads it (and finds out what is wrong with it)
        return _answer(answer)

    return api


def _answer(body: dict[str, Any]) -> Response:
    """The answer as JSON, encoded once (entries are plain JSON already: no jsonable_encoder walk per hit)."""
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")
