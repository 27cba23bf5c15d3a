"""``POST /api/v1/store/hits/{key}``: a task's cache hit in one request (lookup, and the CACHED run recorded with it).

Through the plain store routes a hit costs three round trips (the entry, the blob, the run). Here the server looks
the key up and, when there is a live entry (no older than the client's ``max_age``, on the server's clock), records
the CACHED run the client described, with the source run and the reason taken from the entry, and answers the entry
— its blob's digest, size, materializer and meta — and, for a small blob on a local artifact store, the bytes inline.
With no entry it answers ``{"entry": null}``.

A process's first hit need not have registered anything first: it may name its job (``job``: namespace and name,
instead of ``job_id``) and send its environment snapshot (``environment``, beside its ``environment_hash``). The
server resolves the job and keeps the snapshot, and answers the job's id, so a fresh pod's hit is one request after it
connects, not three. Both are idempotent registrations: kept whether the key hits or not, and when the hit is refused
409 (its run id taken); a 403 or 422 keeps neither. ``GET /api/v1/store`` lists ``hit_fields``: a client sends them
only to a server that names them, and falls back to registering first when a server answers them 422 (an older
replica behind the same Service during a rollout).

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
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator

from ..errors import ArtifactError, StoreConflictError
from ..runs import Reason
from ..status import RunStatus
from ..store import CacheEntry, Store
from ..store.audit import AuditLog
from .audit_trail import row_of
from .auth import AUDIT_KEY, CACHE, AuditNote, CacheCaller, Caller
from .store_api import Datasets, Hash, JobId, JobIn, RunId, _checked, snapshot
from .validation import error

if TYPE_CHECKING:
    from .metrics import Metrics

INLINE_MAX = 64 << 10  # bytes: a blob this small comes back in the answer (base64), saving the client a GET
_ENTRY = CacheEntry._fields  # the entry as the store routes answer it (_asdict)


class HitIn(BaseModel):
    """The CACHED run to record if the key has a live entry (lineage_core.store.protocol.HitRequest)."""

    run_id: RunId
    job_id: JobId | None = None
    job: JobIn | None = None  # instead of job_id: resolved (created) here, its id in the answer
    environment_hash: Hash | None = None
    environment: dict[str, Any] | None = None  # the snapshot environment_hash names, kept here if new
    started_at: float
    ended_at: float | None = None
    context: dict[str, Any] | None = None
    concurrent: bool = False
    max_age: float | None = Field(default=None, gt=0)
    inputs: Datasets = []

    @model_validator(mode="after")
    def _one_job(self) -> HitIn:
        if (self.job_id is None) == (self.job is None):
            raise ValueError("give the job as job_id or as job (namespace and name), one of them")
        if self.environment is not None and self.environment_hash is None:
            raise ValueError("an environment needs the environment_hash that names it")
        return self


def hits_router(store: Store) -> APIRouter:
    api = APIRouter(prefix="/api/v1/store", tags=["store"], dependencies=[Depends(CACHE)])
    arts = store.artifacts
    trail = AuditLog(store)

    def take(key: str, body: HitIn, caller: Caller, note: AuditNote | None, metrics: Metrics | None) -> Response:
        """In a worker thread: the lookup, the CACHED run and the request's audit row, in one transaction (one
        commit; the trail holds the row exactly when the run was recorded), then the small blob. A job named by its
        names and a new environment are stored first (idempotent, kept whether the key hits or not)."""
        job_id = body.job_id
        if body.job is not None:
            caller.require(body.job.namespace)
        elif job_id is not None:  # one of them (_one_job)
            caller.require_job(job_id)
        sent = snapshot(body.environment, body.environment_hash) if body.environment is not None else None
        if isinstance(sent, Response):  # checked before anything is kept: a refused hit keeps nothing
            return sent
        if body.job is not None:
            job_id = store.job_id(body.job.namespace, body.job.name)
        if sent is not None:
            store.put_environment(sent)
        row = row_of(note, 200) if note is not None else None
        recorded = False
        try:
            with store.transaction() as conn:
                entry = store.lookup_in(conn, key)
                live = entry is not None and (body.max_age is None or time.time() - entry.created_at <= body.max_age)
                if entry is not None and live:  # else none, or expired: the client says so and computes
                    note_ = Reason.hit(key, entry.run_id, body.concurrent)
                    store.insert_run_in(conn, [d.dataset() for d in body.inputs], {
                        "id": body.run_id, "job_id": job_id, "status": RunStatus.CACHED.value, "cache_key": key,
                        "source_run_id": entry.run_id, "environment_hash": body.environment_hash,
                        "started_at": body.started_at,
                        "ended_at": body.ended_at if body.ended_at is not None else body.started_at,
                        "reasons": [str(note_)], "context": body.context or {},
                    })
                    recorded = True
                if row is not None:
                    trail.record_in(conn, row)
        except StoreConflictError as e:  # rolled back: the audit trail records the 409
            return error(409, str(e))
        if note is not None and row is not None:
            note.recorded = True
        named = {"job_id": job_id} if body.job is not None else {}  # the id of a job the client named
        if entry is None:
            return _answer({"entry": None, "recorded": False, **named})
        # the artifact store's root too: a client that connected without asking for the store's info (a pod's first
        # hit is this one request) names the blob's location from it (a value passed by reference, its events)
        answer: dict[str, Any] = {"entry": {f: getattr(entry, f) for f in _ENTRY}, "recorded": recorded,
                                  "artifacts": arts.root_uri, **named}
        if not recorded:
            return _answer(answer)
        if metrics is not None:
            metrics.hit_recorded(entry.run_id)
        if arts.local and entry.size is not None and entry.size <= INLINE_MAX:
            try:  # opened as every read is (a regular file of the recorded size); the client verifies the bytes
                with arts.open_blob(entry.artifact_hash, entry.size) as f:
                    answer["blob"] = base64.b64encode(f.read(entry.size + 1)).decode("ascii")
            except (ArtifactError, OSError):
                pass  # the client downloads it (and finds out what is wrong with it)
        return _answer(answer)

    @api.post("/hits/{key}", response_model=None)
    async def hit(key: str, body: HitIn, caller: CacheCaller, request: Request) -> Response:
        """The entry for ``key`` (or null) and whether the CACHED run was recorded with it; a small blob inline."""
        _checked(key, "key")
        return await run_in_threadpool(take, key, body, caller, request.scope.get(AUDIT_KEY),
                                       getattr(request.app.state, "metrics", None))

    return api


def _answer(body: dict[str, Any]) -> Response:
    """The answer as JSON, encoded once (entries are plain JSON already: no jsonable_encoder walk per hit)."""
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")
