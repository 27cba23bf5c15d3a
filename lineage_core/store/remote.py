"""The lineage server as a cache store, reached by URL and a bearer token.

A pod launched by an orchestrator (a KFP task, a KubernetesPodOperator) should hold one credential, not
a database password plus object-store keys. With ``LINEAGE_STORE_URL=https://lineage.example`` and the
token in ``LINEAGE_STORE_TOKEN`` (or ``OPENLINEAGE_API_KEY``, the token its events already use), every
store operation of the cache path is one call to the server's store API (``/api/v1/store``), and the
artifacts go through the server into *its* artifact store.

Trust stays on this side: a blob is downloaded and re-hashed here before it is used, so a damaged blob
or a misbehaving proxy gives a miss, never a wrong hit; an upload names its content hash and the server
refuses bytes that do not match it, and refuses an entry whose blob it does not hold.

Local file hashes (the stat cache) stay in this process: the pod's paths mean nothing elsewhere.
Remote-object hashes (``s3://…``) are shared through the server, so a large input is read once.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .. import settings
from ..environment import EnvironmentSnapshot
from ..errors import ConfigError, RunNotFoundError
from ..hashing.content import StatKey
from ..redact import redact_url
from .artifacts import ArtifactRecord, ArtifactStore
from .blob_cache import BlobCache
from .http_client import ServerClient, _message
from .protocol import CacheEntry, HitRequest, RunDataset
from .remote_artifacts import RemoteArtifacts
from .stored_over_http import StoredOverHttp

if TYPE_CHECKING:
    from ..hashing.remote import RemoteStat

__all__ = ["RemoteArtifacts", "RemoteStore", "ServerClient"]

# What POST /hits/{key} may carry besides ids, as this client sends it before it has asked the server (which lists
# its own in its info): a server from before these fields refuses such a hit (422, no job_id) and records nothing.
_HIT_FIELDS = frozenset({"job", "environment"})


class RemoteStore(StoredOverHttp):
    """:class:`~lineage_core.store.protocol.CacheStore` over the lineage server's store API."""

    def __init__(self, client: ServerClient, info: dict[str, Any] | None = None) -> None:
        """``info``: the server's store info (``GET /api/v1/store``); None: asked for only when something needs it.
        A pod's hit does not: its one request is the hit, whose answer names the artifact store's root, and it
        names the job and sends the environment on the assumption that the server takes them (``_HIT_FIELDS``),
        which a server from before them refuses (422) without recording anything (see :meth:`lookup_and_record`)."""
        self.client = client
        self._info = info
        self.artifacts: ArtifactStore = RemoteArtifacts(client, info["artifacts"] if info is not None else None,
                                                        BlobCache.from_settings(settings.Settings.current()),
                                                        describe=self.server_info)
        self.home = settings.lineage_home()
        self._hits_route = True  # the server has POST /hits/{key} (a hit in one request); False once it said 404
        self._hit_fields = frozenset(info.get("hit_fields") or ()) if info is not None else _HIT_FIELDS
        self._jobs: dict[tuple[str, str], int] = {}
        self._envs: set[str] = set()
        self._stat: dict[str, tuple[StatKey, str]] = {}
        self._stat_lock = threading.Lock()

    @classmethod
    def connect(cls, url: str, token: str | None = None) -> RemoteStore:
        """The server's store: no request yet (a wrong URL or token fails the first one, with a message that says
        which)."""
        if settings.Settings.current().artifacts_url:
            raise ConfigError(
                f"LINEAGE_STORE_URL names a lineage server ({redact_url(url)}), which keeps the artifacts in its own "
                "artifact store: unset LINEAGE_ARTIFACTS_URL (it is only for a database store URL)"
            )
        return cls(ServerClient(url, token if token is not None else settings.store_token()))

    def server_info(self) -> dict[str, Any]:
        """The server's store info (its artifact store, schema revision, what a hit may carry), asked for once."""
        if self._info is None:
            self._info = self.client.call("GET", "").json()
        return self._info

    @property
    def revision(self) -> str | None:
        return self.server_info().get("revision")

    @property
    def url(self) -> str:
        return redact_url(self.client.url)

    def close(self) -> None:
        self.client.close()

    # -- jobs and environments -----------------------------------------------------------------
    def job_id(self, namespace: str, name: str) -> int:
        k = (namespace, name)
        if k not in self._jobs:
            self._jobs[k] = int(self.client.call("POST", "/jobs", json={"namespace": namespace, "name": name})
                                .json()["id"])
        return self._jobs[k]

    def put_environment(self, env: EnvironmentSnapshot) -> str:
        h = env.content_hash
        if h not in self._envs:
            self.client.call("PUT", f"/environments/{h}", json=env.as_data())
            self._envs.add(h)
        return h

    def get_environment(self, env_hash: str) -> EnvironmentSnapshot | None:
        r = self.client.call("GET", f"/environments/{env_hash}", ok=(200, 404))
        return EnvironmentSnapshot.from_dict(r.json()) if r.status_code == 200 else None

    # -- cache entries -------------------------------------------------------------------------
    def lookup(self, key: str) -> CacheEntry | None:
        r = self.client.call("GET", f"/entries/{key}", ok=(200, 404))
        if r.status_code == 404:
            return None
        return _entry(r.json())

    def lookup_and_record(self, key: str, hit: HitRequest) -> tuple[CacheEntry | None, bool]:
        """One request: the live entry for ``key`` and, when there is one (no older than ``hit.max_age``), the
        CACHED run ``hit`` recorded with it. A small blob comes back inline (read by the next ``read_verified``,
        which verifies it); a larger one is read from the blob cache or downloaded then. (entry, recorded).

        A job this process has no id for yet goes by its names, with the environment whole if the server was not sent
        it yet, in the same request (a server that lists them in ``hit_fields``): a fresh pod's first hit is then
        one request after connecting, not three. The environment goes only with a named job, which a server from
        before these fields refuses (422: no ``job_id``), so it can never record a run whose environment it dropped;
        after such a refusal this client registers first, as it would with that server from the start."""
        body: dict[str, Any] = {"run_id": hit.run_id, "started_at": hit.started_at, "ended_at": time.time(),
                                "context": hit.context, "concurrent": hit.concurrent}
        job_id = self._jobs.get(hit.job)
        if job_id is None and "job" in self._hit_fields:
            body["job"] = {"namespace": hit.job[0], "name": hit.job[1]}
        else:
            body["job_id"] = job_id if job_id is not None else self.job_id(*hit.job)
        env = hit.environment
        if env is not None:
            body["environment_hash"] = env.content_hash
            if env.content_hash not in self._envs:
                if "job" in body and "environment" in self._hit_fields:
                    body["environment"] = env.as_data()
                else:
                    self.put_environment(env)
        if hit.max_age is not None:
            body["max_age"] = hit.max_age
        if hit.inputs:
            body["inputs"] = [_dataset_json(d) for d in hit.inputs]
        named = "job" in body
        r = (self.client.call("POST", f"/hits/{key}", json=body, ok=(200, 404, 422) if named else (200, 404))
             if self._hits_route else None)
        if r is None or r.status_code == 404:  # a server from before the route (which never answers 404): as then
            self._hits_route = False
            self.server_info()  # not a lineage server at all: a ConfigError that says so, not a miss
            return self.lookup(key), False
        if r.status_code == 422:  # named: a server (replica) from before the fields; register first from now on
            self._hit_fields = frozenset()
            return self.lookup_and_record(key, hit)
        d = r.json()
        if "job" in body:
            self._jobs[hit.job] = int(d["job_id"])
        if "environment" in body:
            self._envs.add(body["environment_hash"])
        e = d.get("entry")
        if e is None:
            return None, False
        if isinstance(d.get("artifacts"), str) and isinstance(self.artifacts, RemoteArtifacts):
            self.artifacts.learn_root(d["artifacts"])
        entry = _entry(e)
        blob = d.get("blob")
        if isinstance(blob, str) and isinstance(self.artifacts, RemoteArtifacts):
            with contextlib.suppress(ValueError):
                self.artifacts.remember_inline(entry.artifact_hash, base64.b64decode(blob, validate=True))
        return entry, bool(d.get("recorded"))

    def put_entry(
        self, key: str, job_id: int, manifest: dict[str, Any], run_id: str, artifact: ArtifactRecord,
        materializer: str, meta: dict[str, Any], value_hash: str | None,
    ) -> None:
        self.client.call("PUT", f"/entries/{key}", json={
            "job_id": job_id, "manifest": manifest, "run_id": run_id, "artifact_hash": artifact.hash,
            "materializer": materializer, "meta": meta, "value_hash": value_hash,
        })

    def artifact_meta(self, digest: str) -> dict[str, Any] | None:
        r = self.client.call("GET", f"/artifacts/{digest}", ok=(200, 404))
        return (r.json()["meta"] or {}) if r.status_code == 200 else None

    def tombstone(self, key: str) -> None:
        self.client.call("DELETE", f"/entries/{key}")

    def previous_manifests(self, job_id: int, limit: int = 20) -> list[dict[str, Any]]:
        return list(self.client.call("GET", f"/jobs/{job_id}/manifests", params={"limit": limit}).json())

    def manifest(self, key: str) -> dict[str, Any] | None:
        r = self.client.call("GET", f"/manifests/{key}", ok=(200, 404))
        return r.json() if r.status_code == 200 else None

    # -- runs ----------------------------------------------------------------------------------
    def insert_run(self, *, inputs: Sequence[RunDataset] = (), **row: Any) -> None:
        """One request: the run and what it reads (the server resolves the inputs)."""
        if inputs:
            row = {**row, "inputs": [_dataset_json(d) for d in inputs]}
        self.client.call("POST", "/runs", json=row)

    def finish_run(self, run_id: str, *, outputs: Sequence[RunDataset] = (), **values: Any) -> None:
        if outputs:
            values = {**values, "outputs": [_dataset_json(d) for d in outputs]}
        self.client.call("PATCH", f"/runs/{run_id}", json=values)

    def abandon_run(self, run_id: str, why: str) -> None:
        self.client.call("POST", f"/runs/{run_id}/abandon", json={"why": why})

    def _run(self, run_id: str) -> dict[str, Any]:
        """The run as the server describes it: its row, and under ``datasets`` what it read and wrote."""
        r = self.client.call("GET", f"/runs/{run_id}", ok=(200, 404))
        if r.status_code == 404:
            raise RunNotFoundError(_message(r))
        return dict(r.json())

    def get_run(self, run_id: str) -> dict[str, Any]:
        run = self._run(run_id)
        run.pop("datasets", None)
        return run

    def run_datasets(self, run_id: str) -> tuple[list[RunDataset], list[RunDataset]]:
        try:
            d = self._run(run_id).get("datasets") or {}
        except RunNotFoundError:
            return [], []
        return [_dataset(x) for x in d.get("inputs") or []], [_dataset(x) for x in d.get("outputs") or []]

    # -- leases (atomic on the server; its clock decides expiry for every worker) ---------------
    def try_acquire(self, key: str, owner: str, ttl: float) -> tuple[bool, str | None]:
        d = self.client.call("POST", f"/leases/{key}", json={"owner": owner, "ttl": ttl}).json()
        return bool(d["acquired"]), d.get("previous")

    def renew(self, key: str, owner: str, ttl: float) -> bool:
        return bool(self.client.call("PUT", f"/leases/{key}", json={"owner": owner, "ttl": ttl}).json()["renewed"])

    def release(self, key: str, owner: str) -> None:
        self.client.call("DELETE", f"/leases/{key}", params={"owner": owner})

    def lease(self, key: str) -> tuple[str, float] | None:
        r = self.client.call("GET", f"/leases/{key}", ok=(200, 404))
        if r.status_code == 404:
            return None
        d = r.json()
        return d["owner"], float(d["expires_at"])

    # -- hash caches ---------------------------------------------------------------------------
    def get_many(self, paths: Sequence[str]) -> dict[str, tuple[StatKey, str]]:
        with self._stat_lock:
            return {p: self._stat[p] for p in paths if p in self._stat}

    def get_under(self, directory: str) -> dict[str, tuple[StatKey, str]]:
        prefix = directory.rstrip(os.sep) + os.sep
        with self._stat_lock:
            return {p: v for p, v in self._stat.items() if p.startswith(prefix)}

    def put_many(self, rows: Iterable[tuple[str, StatKey, str]]) -> None:
        with self._stat_lock:
            self._stat.update((p, (k, h)) for p, k, h in rows)

    def get_remote(self, uris: Sequence[str]) -> dict[str, tuple[RemoteStat, str]]:
        if not uris:
            return {}
        from ..hashing.remote import RemoteStat  # remote inputs only: not imported by a plain hit

        rows = self.client.call("POST", "/remote-stat/lookup", json={"uris": list(uris)}).json()
        return {r["uri"]: (RemoteStat(r["size"], r["etag"], r["version"]), r["hash"]) for r in rows}

    def put_remote(self, rows: Sequence[tuple[str, RemoteStat, str]]) -> None:
        if rows:
            self.client.call("PUT", "/remote-stat", json=[
                {"uri": u, "size": s.size, "etag": s.etag, "version": s.version, "hash": h} for u, s, h in rows
            ])


def _dataset_json(d: RunDataset) -> dict[str, Any]:
    return {"location": d.location, "version": d.version, "content": d.content,
            "fields": [list(f) for f in d.fields] if d.fields else None, "source_run": d.source_run}


def _dataset(d: dict[str, Any]) -> RunDataset:
    fields = d.get("fields")
    return RunDataset(d["location"], d.get("version"), d.get("content"),
                      tuple((str(n), str(t)) for n, t in fields) if fields else None)


def _entry(d: dict[str, Any]) -> CacheEntry:
    return CacheEntry(d["key"], d["run_id"], d["artifact_hash"], d["value_hash"], d["created_at"],
                      d["materializer"], d["meta"] or {}, d.get("job", ""), _size(d.get("size")))


def _size(value: Any) -> int | None:
    """A recorded size as the server sent it: a non-negative integer, else unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
