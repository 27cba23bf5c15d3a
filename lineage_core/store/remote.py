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

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from .. import settings
from ..environment import EnvironmentSnapshot
from ..errors import ArtifactError, ConfigError, IntegrityError, RunNotFoundError, StoreError
from ..hashing.content import StatCache, StatKey, StreamingHasher, hash_stream_file
from ..hashing.remote import RemoteStat
from ..redact import redact_url
from .artifacts import ArtifactRecord, ArtifactStore, chunks
from .protocol import CacheEntry, RunDataset

if TYPE_CHECKING:
    import mmap

    import requests

_JSON_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
_BLOB_TIMEOUT = (10.0, 600.0)
_CHUNK = 1 << 20


class ServerClient:
    """HTTP plumbing: one keep-alive session, retries on connection failures and gateway errors, and
    every failure turned into one of our errors that names the server (never the token)."""

    def __init__(self, url: str, token: str | None) -> None:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        self.base = f"{self.url}/api/v1/store"
        self.session = requests.Session()
        # Retried only when the request cannot have been processed: no connection, or a gateway that
        # never reached the server. Read timeouts are not retried (a write may have happened).
        retry = Retry(total=4, connect=4, read=0, status=3, backoff_factor=0.3, allowed_methods=None,
                      status_forcelist=(502, 503, 504), raise_on_status=False)
        self.session.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=16))
        self.session.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=16))
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204), json: Any = None,
             data: Any = None, params: dict[str, Any] | None = None, stream: bool = False) -> requests.Response:
        import requests

        timeout = _BLOB_TIMEOUT if path.startswith("/blobs/") else _JSON_TIMEOUT
        try:
            r = self.session.request(method, self.base + path, json=json, data=data, params=params,
                                     timeout=timeout, stream=stream)
        except requests.RequestException as e:
            raise StoreError(f"lineage server {redact_url(self.url)} is unreachable: {type(e).__name__}: "
                             f"{redact_url(str(e))}") from None
        if r.status_code in ok:
            return r
        message = _message(r)
        if r.status_code in (401, 403):
            raise ConfigError(f"lineage server {redact_url(self.url)} refused the request ({r.status_code}: "
                              f"{message}); set its token in {' or '.join(settings.STORE_TOKEN_ENVS)}")
        if r.status_code == 404 and path == "":
            raise ConfigError(f"{redact_url(self.url)} has no store API (/api/v1/store): is it a lineage server?")
        raise StoreError(f"lineage server {redact_url(self.url)}: {method} {path or '/'} failed "
                         f"({r.status_code}: {message})")


def _message(r: requests.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:200] or r.reason
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body)[:500]
    return str(body)[:500]


class RemoteArtifacts(ArtifactStore):
    """Blobs kept by the server. URIs name where the server stores them (its own artifact store), so events
    and references say the same whichever side built them."""

    def __init__(self, client: ServerClient, root_uri: str) -> None:  # no super(): there is no filesystem here
        self.client = client
        self.url = client.url
        self.root = root_uri.rstrip("/")
        self.protocol = client.url.split("://", 1)[0]
        self.local = False
        self._scratch = tempfile.gettempdir()

    @property
    def root_uri(self) -> str:
        return str(self.root)

    def uri_for(self, digest: str) -> str:
        hexd = digest.split(":", 1)[1]
        return f"{self.root}/blobs/{hexd[:2]}/{hexd}"

    def publish(self, tmp_path: str, digest: str | None = None) -> ArtifactRecord:
        try:
            return self._upload(tmp_path, digest)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)

    def publish_file(self, src: str) -> ArtifactRecord:
        return self._upload(src, None)

    def _upload(self, src: str, digest: str | None) -> ArtifactRecord:
        """One PUT under the content hash; the server checks the bytes against it before keeping them."""
        digest = digest or hash_stream_file(src)
        size = os.path.getsize(src)
        try:
            with open(src, "rb") as f:
                self.client.call("PUT", f"/blobs/{digest}", data=f)
        except StoreError as e:
            raise ArtifactError(f"could not upload artifact {digest}: {e}") from None
        return ArtifactRecord(digest, self.uri_for(digest), size)

    def read_verified(self, digest: str, stat_cache: StatCache | None = None,
                      size: int | None = None) -> bytes | mmap.mmap:
        """Downloaded and re-hashed here: what the server (or anything between) sends is not trusted, and no
        more than the recorded ``size`` + 1 bytes are read (a server streaming without end is a miss)."""
        hasher = StreamingHasher()
        parts = []
        try:
            with self.open_blob(digest, size) as f:
                for chunk in chunks(f, size, _CHUNK):
                    hasher.update(chunk)
                    parts.append(chunk)
        except ArtifactError:
            raise
        except Exception as e:  # noqa: BLE001 - a broken transfer is a miss, never a crash
            raise ArtifactError(f"artifact {digest} could not be read: {e}") from None
        if size is not None and hasher.size != size:
            got = "longer" if hasher.size > size else f"{hasher.size} bytes"
            raise ArtifactError(f"artifact {digest} from lineage server {redact_url(self.url)} is {got}, not the "
                                f"{size} bytes recorded for it")
        actual = hasher.hexdigest()
        if actual != digest:
            raise IntegrityError(f"artifact {digest} failed verification (content hash {actual})")
        return b"".join(parts)

    @contextlib.contextmanager
    def open_blob(self, digest: str, size: int | None = None) -> Iterator[IO[bytes]]:
        try:
            r = self.client.call("GET", f"/blobs/{digest}", ok=(200, 404), stream=True)
        except (StoreError, ConfigError) as e:
            raise ArtifactError(f"artifact {digest} could not be read: {e}") from None
        with r:
            if r.status_code == 404:
                raise ArtifactError(f"artifact {digest} is missing from lineage server {redact_url(self.url)}")
            r.raw.decode_content = True
            yield r.raw

    def exists(self, digest: str) -> bool:
        return self.client.call("HEAD", f"/blobs/{digest}", ok=(200, 404)).status_code == 200

    def info(self) -> dict[str, Any]:
        return {"url": redact_url(self.url), "protocol": self.protocol, "root": redact_url(self.root)}


class RemoteStore:
    """:class:`~lineage_core.store.protocol.CacheStore` over the lineage server's store API."""

    def __init__(self, client: ServerClient, info: dict[str, Any]) -> None:
        self.client = client
        self.artifacts: ArtifactStore = RemoteArtifacts(client, info["artifacts"])
        self.home = settings.lineage_home()
        self.revision = info.get("revision")
        self._jobs: dict[tuple[str, str], int] = {}
        self._envs: set[str] = set()
        self._stat: dict[str, tuple[StatKey, str]] = {}
        self._stat_lock = threading.Lock()

    @classmethod
    def connect(cls, url: str, token: str | None = None) -> RemoteStore:
        """Open the server's store; a wrong URL or token fails here, with a message that says which."""
        if settings.Settings.current().artifacts_url:
            raise ConfigError(
                f"LINEAGE_STORE_URL names a lineage server ({redact_url(url)}), which keeps the artifacts in its own "
                "artifact store: unset LINEAGE_ARTIFACTS_URL (it is only for a database store URL)"
            )
        client = ServerClient(url, token if token is not None else settings.store_token())
        return cls(client, client.call("GET", "").json())

    @property
    def url(self) -> str:
        return redact_url(self.client.url)

    def close(self) -> None:
        self.client.session.close()

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
            self.client.call("PUT", f"/environments/{h}", json=env.to_dict())
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
        d = r.json()
        return CacheEntry(d["key"], d["run_id"], d["artifact_hash"], d["value_hash"], d["created_at"],
                          d["materializer"], d["meta"] or {}, d.get("job", ""), _size(d.get("size")))

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


def _size(value: Any) -> int | None:
    """A recorded size as the server sent it: a non-negative integer, else unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
