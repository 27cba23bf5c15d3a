"""What a cached step needs from a store, whoever serves it.

Two implementations: :class:`~lineage_core.store.metadata.Store` (SQL + fsspec, for workers that can reach
the database and the object store) and :class:`~lineage_core.store.remote.RemoteStore` (the lineage
server over HTTP with a token, for pods that should hold no database or bucket credentials). The cache
path, single-flight, cached commands and event building are written against this protocol only.

This module imports no SQLAlchemy: a task on the remote store never loads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..environment import EnvironmentSnapshot
    from ..hashing.content import StatKey
    from ..hashing.remote import RemoteStat
    from .artifacts import ArtifactRecord, ArtifactStore


@dataclass(frozen=True)
class CacheEntry:
    key: str
    run_id: str
    artifact_hash: str
    value_hash: str | None
    created_at: float
    materializer: str
    meta: dict[str, Any]
    job: str = ""
    size: int | None = None  # the artifact's recorded size: a read stops there (None: unknown)


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
    def tombstone(self, key: str) -> None: ...
    def previous_manifests(self, job_id: int, limit: int = 20) -> list[dict[str, Any]]: ...
    def manifest(self, key: str) -> dict[str, Any] | None: ...

    # runs
    def insert_run(self, **row: Any) -> None: ...
    def finish_run(self, run_id: str, **values: Any) -> None: ...
    def abandon_run(self, run_id: str, why: str) -> None: ...
    def get_run(self, run_id: str) -> dict[str, Any]: ...

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
