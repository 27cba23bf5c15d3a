"""What a cached step needs from a store, whoever serves it.

Two implementations: :class:`~lineage_core.store.metadata.Store` (SQL + fsspec, for workers that can reach
the database and the object store) and :class:`~lineage_core.store.remote.RemoteStore` (the lineage
server over HTTP with a token, for pods that should hold no database or bucket credentials). The cache
path, single-flight, cached commands and event building are written against this protocol only.

This module imports no SQLAlchemy: a task on the remote store never loads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from ..environment import EnvironmentSnapshot
    from ..hashing.content import StatKey
    from ..hashing.remote import RemoteStat
    from .artifacts import ArtifactRecord, ArtifactStore


class CacheEntry(NamedTuple):
    key: str
    run_id: str
    artifact_hash: str
    value_hash: str | None
    created_at: float
    materializer: str
    meta: dict[str, Any]
    job: str = ""
    size: int | None = None  # the artifact's recorded size: a read stops there (None: unknown)


class RunDataset(NamedTuple):
    """A dataset one run read or wrote, recorded with the run: what its events name, whatever happens to the
    cache entries later (invalidate and gc never rewrite a past run's inputs and outputs).

    As an input given to :meth:`CacheStore.insert_run` it is a request the store resolves against what earlier
    runs wrote: with ``source_run``, that run's output of this ``version`` (an ``ArtifactRef``'s producer);
    otherwise with ``content``, an output some run recorded with that content (a value handed on in memory).
    An input that resolves to nothing keeps its own ``location``; one without a location is then no dataset
    (an in-memory value nobody recorded) and is left out.
    """

    location: str | None  # absolute path or URL (None: an in-memory value, a dataset only if some run wrote it)
    version: str | None = None  # content hash of the bytes (an artifact's hash)
    content: str | None = None  # the hash an argument carrying this value has (how hand-offs link)
    fields: tuple[tuple[str, str], ...] | None = None  # (name, type) of tabular data
    source_run: str | None = None  # an input's producing run, when the argument names it (an ArtifactRef)


class HitRequest(NamedTuple):
    """The CACHED run a hit would record, as the client knows it before the lookup, for a store that looks up and
    records in one step (``lookup_and_record``: the server store, one round trip). The store fills in what the entry
    says (the source run, and the reason ``runs.Reason.hit`` words); the client still verifies and loads the value,
    and takes the run back (:meth:`CacheStore.finish_run` as FAILED) if it refuses it."""

    run_id: str
    job: tuple[str, str]  # (namespace, name): the store resolves the id (the server store with the lookup itself)
    environment: EnvironmentSnapshot | None  # where the hit runs (the store keeps it if new)
    started_at: float
    context: dict[str, Any]
    inputs: Sequence[RunDataset] = ()
    concurrent: bool = False  # the hit waited for a concurrent computation (single-flight)
    max_age: float | None = None  # an entry older than this (the store's clock) is returned but not recorded


class StoredArtifact(NamedTuple):
    """An artifact row: the blob's content hash, the exact materializer that wrote it, its meta and size."""

    hash: str
    materializer: str
    meta: dict[str, Any]
    size: int | None = None


class CacheStore(Protocol):
    artifacts: ArtifactStore
    home: Path  # local scratch for loaded values (directory trees are restored under it)

    @property
    def url(self) -> str: ...  # redacted, for messages

    # jobs, environments
    def job_id(self, namespace: str, name: str) -> int: ...
    def put_environment(self, env: EnvironmentSnapshot) -> str: ...
    def get_environment(self, env_hash: str) -> EnvironmentSnapshot | None: ...

    # cache entries and key manifests
    def lookup(self, key: str) -> CacheEntry | None: ...
    def put_entry(
        self, key: str, job_id: int, manifest: dict[str, Any], run_id: str, artifact: ArtifactRecord,
        materializer: str, meta: dict[str, Any], value_hash: str | None,
    ) -> None: ...
    def artifact_meta(self, digest: str) -> dict[str, Any] | None: ...
    def stored_artifact(self, digest: str) -> StoredArtifact | None:
        """How the artifact was stored (materializer, meta, size), whatever became of the entries naming it: what
        reading a past run's result back needs (lineage_core.load). None when the store has no such artifact."""
        ...
    def tombstone(self, key: str) -> None: ...
    def previous_manifests(self, job_id: int, limit: int = 20) -> list[dict[str, Any]]: ...
    def manifest(self, key: str) -> dict[str, Any] | None: ...

    # runs, and the datasets each read and wrote (written with the run row, in the same transaction or request)
    def insert_run(self, *, inputs: Sequence[RunDataset] = (), **row: Any) -> None:
        """The run row and the datasets it reads, resolved (see :class:`RunDataset`), all or nothing."""
        ...
    def finish_run(self, run_id: str, *, outputs: Sequence[RunDataset] = (), **values: Any) -> None:
        """The run's end and the datasets it wrote, all or nothing (nothing for an unknown run)."""
        ...
    def abandon_run(self, run_id: str, why: str) -> None: ...
    def get_run(self, run_id: str) -> dict[str, Any]: ...
    def run_datasets(self, run_id: str) -> tuple[list[RunDataset], list[RunDataset]]:
        """(inputs, outputs) recorded for the run (by full id), in order. Outputs are recorded once, by the run
        that wrote them: a hit (a run with a source run) that recorded none has its source run's. Both empty
        for an unknown run, or one written before datasets were recorded."""
        ...

    # single-flight leases
    def try_acquire(self, key: str, owner: str, ttl: float) -> tuple[bool, str | None]: ...
    def renew(self, key: str, owner: str, ttl: float) -> bool: ...
    def release(self, key: str, owner: str) -> None: ...
    def lease(self, key: str) -> tuple[str, float] | None: ...

    # hash caches (hashing.StatCache, hashing.remote.RemoteStatCache)
    def get_many(self, paths: Sequence[str]) -> dict[str, tuple[StatKey, str]]: ...
    def get_under(self, directory: str) -> dict[str, tuple[StatKey, str]]: ...
    def put_many(self, rows: Iterable[tuple[str, StatKey, str]]) -> None: ...
    def get_remote(self, uris: Sequence[str]) -> dict[str, tuple[RemoteStat, str]]: ...
    def put_remote(self, rows: Sequence[tuple[str, RemoteStat, str]]) -> None: ...

    def close(self) -> None: ...
