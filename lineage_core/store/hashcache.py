"""The hash caches: local path -> (size, mtime_ns, inode, hash) and remote URI -> (size, ETag, version,
hash). They let an unchanged file or object be identified without reading it again."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from ..hashing.content import HASH_SCHEMA, StatKey
from ..hashing.remote import RemoteStat
from . import schema as t
from .base import StoreBase


class HashCacheMixin(StoreBase):
    """Implements ``hashing.StatCache`` and ``hashing.remote.RemoteStatCache`` on two tables."""

    def _hash_rows(self, key: sa.Column[Any], keys: Sequence[str], *cols: sa.Column[Any]) -> Iterator[Any]:
        """Rows of a hash-cache table (current hash schema) for many keys, in batches of 900."""
        with self.engine.connect() as c:
            for i in range(0, len(keys), 900):
                yield from c.execute(
                    sa.select(key, *cols).where(key.in_(keys[i : i + 900]), key.table.c.schema == HASH_SCHEMA)
                )

    def get_many(self, paths: Sequence[str]) -> dict[str, tuple[StatKey, str]]:
        sc = t.stat_cache.c
        rows = self._hash_rows(sc.path, paths, sc.size, sc.mtime_ns, sc.inode, sc.hash)
        return {p: (StatKey(size, mtime, ino), h) for p, size, mtime, ino, h in rows}

    def get_under(self, directory: str) -> dict[str, tuple[StatKey, str]]:
        sc = t.stat_cache.c
        lo = directory.rstrip(os.sep) + os.sep
        hi = lo[:-1] + chr(ord(os.sep) + 1)  # every path that starts with `lo` sorts in [lo, hi)
        q = sa.select(sc.path, sc.size, sc.mtime_ns, sc.inode, sc.hash).where(
            sc.path >= lo, sc.path < hi, sc.schema == HASH_SCHEMA
        )
        with self.engine.connect() as c:
            return {p: (StatKey(size, mtime, ino), h) for p, size, mtime, ino, h in c.execute(q)}

    def get_remote(self, uris: Sequence[str]) -> dict[str, tuple[RemoteStat, str]]:
        rc = t.remote_stat.c
        rows = self._hash_rows(rc.uri, uris, rc.size, rc.etag, rc.version, rc.hash)
        return {uri: (RemoteStat(size, etag, version), h) for uri, size, etag, version, h in rows}

    def put_remote(self, rows: Sequence[tuple[str, RemoteStat, str]]) -> None:
        data = [{"uri": u, "size": s.size, "etag": s.etag, "version": s.version, "hash": h, "schema": HASH_SCHEMA}
                for u, s, h in rows]
        self._upsert(t.remote_stat, "uri", data)

    def put_many(self, rows: Iterable[tuple[str, StatKey, str]]) -> None:
        data = [
            {"path": p, "size": k.size, "mtime_ns": k.mtime_ns, "inode": k.inode, "hash": h, "schema": HASH_SCHEMA}
            for p, k, h in rows
        ]
        self._upsert(t.stat_cache, "path", data)
