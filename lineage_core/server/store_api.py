"""The store API (``/api/v1/store``): the server as the cache store of tasks that hold only its URL and a token.

It is the cache path's store protocol (lineage_core.store.protocol) over HTTP, served by the server's own
SQL store and artifact store; lineage_core.store.remote is the client. Every route needs a token with the
``cache`` scope whenever the server requires tokens (off loopback): cache entries and blobs are the users' data.
A namespace-limited token may only touch jobs, runs and keys of its namespaces (see .auth).

What the server refuses, so that a client can never leave a wrong or half-written entry:
- a blob whose bytes do not hash to the digest it was sent under (422, nothing kept);
- an entry whose blob the server does not hold (409: upload first);
- an environment snapshot whose content does not hash to its name (422);
- malformed digests and keys (400: they become paths and must not escape the blob tree).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import AfterValidator, BaseModel, Field
from starlette.background import BackgroundTask

from ..environment import EnvironmentSnapshot
from ..errors import ArtifactError, RunNotFoundError, StoreConflictError
from ..hashing.content import StreamingHasher
from ..hashing.remote import RemoteStat
from ..store import Store
from ..store.artifacts import ArtifactRecord
from ..store.metadata import HEAD_REVISION
from ..store.protocol import RunDataset
from .auth import CACHE, CacheCaller, not_audited
from .validation import INT64, JobName, Namespace, error

_HASH = re.compile(r"^blake3:[0-9a-f]{64}$")
_CHUNK = 1 << 20
_INT32 = (1 << 31) - 1  # jobs.id is an INTEGER
_MAX_URI = 2048  # bytes: remote_stat is keyed by the URI (PostgreSQL indexes at most 2,704 bytes a row)
_MAX_LOCATION = 8192  # a dataset's path or URL (not indexed)


# Bounds are the columns' (and, for keys, what PostgreSQL can index); strings are checked for NUL and lone
# surrogates, integers for 64 bits, by the strict JSON parse before any model sees them (.validation).
JobId = Annotated[int, Field(ge=1, le=_INT32)]
RunId = Annotated[str, Field(min_length=1, max_length=36)]
Hash = Annotated[str, Field(min_length=1, max_length=80)]


def _indexable(uri: str) -> str:
    if len(uri.encode("utf-8")) > _MAX_URI:
        raise ValueError(f"is longer than {_MAX_URI} bytes of UTF-8")
    return uri


class JobIn(BaseModel):
    namespace: Namespace
    name: JobName


class EntryIn(BaseModel):
    job_id: JobId
    manifest: dict[str, Any]
    run_id: RunId
    artifact_hash: str = Field(pattern=_HASH.pattern)
    materializer: str = Field(min_length=1, max_length=64)
    meta: dict[str, Any] = {}
    value_hash: Hash | None = None


class DatasetIn(BaseModel):
    """A dataset a run read or wrote (lineage_core.store.protocol.RunDataset)."""

    location: Annotated[str, Field(min_length=1, max_length=_MAX_LOCATION)] | None = None
    version: Hash | None = None
    content: Hash | None = None
    fields: list[tuple[Annotated[str, Field(max_length=1024)], Annotated[str, Field(max_length=1024)]]] | None = (
        Field(default=None, max_length=10000))
    source_run: RunId | None = None

    def dataset(self) -> RunDataset:
        return RunDataset(self.location, self.version, self.content,
                          tuple(self.fields) if self.fields else None, self.source_run)


Datasets = Annotated[list[DatasetIn], Field(max_length=1000)]


def _json(d: RunDataset) -> dict[str, Any]:
    return {"location": d.location, "version": d.version, "content": d.content,
            "fields": [list(f) for f in d.fields] if d.fields else None}


class RunIn(BaseModel):
    id: RunId
    job_id: JobId
    status: Literal["RUNNING", "COMPLETED", "CACHED", "FAILED", "ABORTED"]
    cache_key: Hash | None = None
    source_run_id: RunId | None = None
    environment_hash: Hash | None = None
    started_at: float
    ended_at: float | None = None
    reasons: list[str] | None = None
    context: dict[str, Any] | None = None
    error: str | None = None
    inputs: Datasets = []


class RunEnd(BaseModel):
    status: Literal["COMPLETED", "CACHED", "FAILED", "ABORTED"]
    error: str | None = None
    environment_hash: Hash | None = None
    context: dict[str, Any] | None = None  # the run's context with its metrics (lineage_core.metrics)
    outputs: Datasets = []


class Abandon(BaseModel):
    why: str


class LeaseIn(BaseModel):
    owner: RunId  # the run computing the key
    ttl: float = Field(gt=0, le=86400)


class RemoteStatIn(BaseModel):
    uri: Annotated[str, Field(min_length=1, max_length=_MAX_URI), AfterValidator(_indexable)]
    size: int = Field(ge=0, le=INT64[1])
    etag: str = Field(max_length=255)
    version: str = Field(max_length=255)
    hash: str = Field(pattern=_HASH.pattern)


class Uris(BaseModel):
    uris: list[str] = Field(max_length=10000)


def _cannot_write(e: OSError) -> Response:
    """An upload the server's disk cannot take: 507 when it is full (the client may retry later), else 503.
    ``e`` is the OSError, or the ArtifactError the artifact store raised from it."""
    cause = e.__cause__ if isinstance(e.__cause__, OSError) else e
    why = cause.strerror or type(cause).__name__
    if cause.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return error(507, f"the server's artifact storage is full ({why}): nothing stored; retry later")
    return error(503, f"the server cannot write artifacts ({why}): nothing stored")


HIT_FIELDS = ("job", "environment")  # what POST /hits/{key} takes besides ids (server.store_hits): a client asks info


def snapshot(body: dict[str, Any], env_hash: str | None) -> EnvironmentSnapshot | Response:
    """The environment snapshot a client sent under ``env_hash``, or the 422 that says why it is not one."""
    try:
        env = EnvironmentSnapshot.from_dict(body)
    except TypeError as e:
        return error(422, f"not an environment snapshot: {e}")
    if env.content_hash != env_hash:
        return error(422, f"the snapshot's content hash is {env.content_hash}, not {env_hash}")
    return env


def _checked(value: str, what: str) -> str:
    if not _HASH.match(value):
        raise HTTPException(400, f"{what} {value[:100]!r} is not a blake3:<64 hex> digest")
    return value


def store_router(store: Store) -> APIRouter:
    api = APIRouter(prefix="/api/v1/store", tags=["store"], dependencies=[Depends(CACHE)])
    arts = store.artifacts

    @api.get("")
    def info() -> dict[str, Any]:
        return {"artifacts": arts.root_uri, "revision": HEAD_REVISION, "hit_fields": list(HIT_FIELDS)}

    # -- jobs, environments, manifests ---------------------------------------------------------
    @api.post("/jobs")
    def job(body: JobIn, caller: CacheCaller) -> dict[str, int]:
        caller.require(body.namespace)
        return {"id": store.job_id(body.namespace, body.name)}

    @api.put("/environments/{env_hash}", status_code=204)
    def put_environment(env_hash: str, body: dict[str, Any]) -> Response:
        env = snapshot(body, _checked(env_hash, "environment hash"))
        if isinstance(env, Response):
            return env
        store.put_environment(env)
        return Response(status_code=204)

    @api.get("/environments/{env_hash}", response_model=None)
    def get_environment(env_hash: str) -> Any:
        env = store.get_environment(env_hash)
        return env.to_dict() if env is not None else error(404, f"no environment {env_hash}")

    @api.get("/jobs/{job_id}/manifests")
    def previous_manifests(job_id: Annotated[int, Path(ge=1, le=INT64[1])],
                           limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[dict[str, Any]]:
        return store.previous_manifests(job_id, limit)

    @api.get("/manifests/{key}", response_model=None)
    def manifest(key: str) -> Any:
        m = store.manifest(_checked(key, "key"))
        return m if m is not None else error(404, f"no key manifest {key}")

    # -- cache entries and artifacts -----------------------------------------------------------
    @api.get("/entries/{key}", response_model=None)
    def lookup(key: str) -> Any:
        entry = store.lookup(_checked(key, "key"))
        return entry._asdict() if entry is not None else error(404, f"no live cache entry for key {key}")

    @api.put("/entries/{key}", status_code=204)
    def put_entry(key: str, body: EntryIn, caller: CacheCaller) -> Response:
        _checked(key, "key")
        caller.require_job(body.job_id)
        path = arts.path_for(body.artifact_hash)
        if not arts.fs.exists(path):
            return error(409, f"artifact {body.artifact_hash} is not on the server: upload the blob first")
        record = ArtifactRecord(body.artifact_hash, arts.uri_for(body.artifact_hash), int(arts.fs.size(path)))
        try:
            store.put_entry(key, body.job_id, body.manifest, body.run_id, record, body.materializer, body.meta,
                            body.value_hash)
        except StoreConflictError as e:
            return error(409, str(e))
        return Response(status_code=204)

    @api.delete("/entries/{key}", status_code=204)
    def tombstone(key: str) -> Response:
        store.tombstone(_checked(key, "key"))
        return Response(status_code=204)

    @api.get("/artifacts/{digest}", response_model=None)
    def artifact(digest: str) -> Any:
        found = store.stored_artifact(_checked(digest, "digest"))
        if found is None:
            return error(404, f"no artifact {digest}")
        return {"hash": digest, "meta": found.meta, "materializer": found.materializer, "size": found.size}

    @api.put("/blobs/{digest}", status_code=201)
    async def put_blob(digest: str, request: Request) -> Any:
        """Streamed to a temp file and hashed on the way; published only if it is what it claims to be."""
        _checked(digest, "digest")
        hasher = StreamingHasher()
        try:
            tmp = arts.new_temp_path()
        except OSError as e:
            return _cannot_write(e)
        try:  # the one place the server writes an upload: a full disk stops here, and nothing is kept
            with open(tmp, "wb") as f:
                async for chunk in request.stream():
                    hasher.update(chunk)
                    f.write(chunk)
        except OSError as e:
            os.unlink(tmp)
            return _cannot_write(e)
        except BaseException:
            os.unlink(tmp)
            raise
        actual = hasher.hexdigest()
        if actual != digest:
            os.unlink(tmp)
            return error(422, f"uploaded bytes hash to {actual}, not {digest}: nothing stored")
        try:
            record = await run_in_threadpool(arts.publish, tmp, actual)
        except ArtifactError as e:
            return error(507, str(e))
        return {"hash": record.hash, "uri": record.uri, "size": record.size}

    @api.get("/blobs/{digest}", response_model=None)
    def get_blob(digest: str) -> Any:
        """Sent as stored (the client re-hashes what it receives), opened as every read is: a blob that is not
        a regular file (a symlink, a FIFO) is never followed or blocked on — it is no blob (404)."""
        stack = contextlib.ExitStack()
        try:
            f = stack.enter_context(arts.open_blob(_checked(digest, "digest")))
        except ArtifactError as e:
            stack.close()
            return error(404, f"no intact blob {digest}: {e}")
        return StreamingResponse(iter(lambda: f.read(_CHUNK), b""), media_type="application/octet-stream",
                                 background=BackgroundTask(stack.close))

    @api.head("/blobs/{digest}")
    def has_blob(digest: str) -> Response:
        return Response(status_code=200 if arts.fs.exists(arts.path_for(_checked(digest, "digest"))) else 404)

    # -- runs ----------------------------------------------------------------------------------
    @api.post("/runs", status_code=201)
    def insert_run(body: RunIn, caller: CacheCaller) -> Response:
        caller.require_job(body.job_id)
        try:
            store.insert_run(**body.model_dump(exclude={"inputs"}), inputs=[d.dataset() for d in body.inputs])
        except StoreConflictError as e:
            return error(409, str(e))
        return Response(status_code=201)

    @api.patch("/runs/{run_id}", status_code=204)
    def finish_run(run_id: str, body: RunEnd) -> Response:
        values = body.model_dump(exclude_none=True, exclude={"outputs"})
        try:
            store.finish_run(run_id, outputs=[d.dataset() for d in body.outputs], **values)
        except StoreConflictError as e:
            return error(409, str(e))
        return Response(status_code=204)

    @api.post("/runs/{run_id}/abandon", status_code=204)
    def abandon_run(run_id: str, body: Abandon) -> Response:
        store.abandon_run(run_id, body.why)
        return Response(status_code=204)

    @api.get("/runs/{run_id}", response_model=None)
    def get_run(run_id: str) -> Any:
        """The run row and, under ``datasets``, what it read and wrote (Store.run_datasets)."""
        try:
            run = store.get_run(run_id)
        except RunNotFoundError as e:
            return error(404, str(e))
        inputs, outputs = store.run_datasets(run["id"])
        return {**run, "datasets": {"inputs": [_json(d) for d in inputs], "outputs": [_json(d) for d in outputs]}}

    # -- leases ----------------------------------------------------------------------------------
    @api.post("/leases/{key}")
    def acquire(key: str, body: LeaseIn) -> dict[str, Any]:
        acquired, previous = store.try_acquire(_checked(key, "key"), body.owner, body.ttl)
        return {"acquired": acquired, "previous": previous}

    @api.put("/leases/{key}", dependencies=[Depends(not_audited)])  # the heartbeat: no row every ttl/3
    def renew(key: str, body: LeaseIn) -> dict[str, bool]:
        return {"renewed": store.renew(_checked(key, "key"), body.owner, body.ttl)}

    @api.delete("/leases/{key}", status_code=204)
    def release(key: str, owner: str) -> Response:
        store.release(_checked(key, "key"), owner)
        return Response(status_code=204)

    @api.get("/leases/{key}", response_model=None)
    def lease(key: str) -> Any:
        held = store.lease(_checked(key, "key"))
        return {"owner": held[0], "expires_at": held[1]} if held else error(404, f"no lease on {key}")

    # -- hashes of remote objects (shared: an unchanged s3:// input is read once, by anyone) -----
    @api.post("/remote-stat/lookup", dependencies=[Depends(not_audited)])  # a read
    def get_remote(body: Uris) -> list[dict[str, Any]]:
        found = store.get_remote(body.uris)
        return [{"uri": u, "size": s.size, "etag": s.etag, "version": s.version, "hash": h}
                for u, (s, h) in found.items()]

    @api.put("/remote-stat", status_code=204)
    def put_remote(body: list[RemoteStatIn]) -> Response:
        store.put_remote([(r.uri, RemoteStat(r.size, r.etag, r.version), r.hash) for r in body])
        return Response(status_code=204)

    return api

