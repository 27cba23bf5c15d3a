"""The hash caches: local path -> (stat identity, hash) and remote URI -> (size, ETag, version, hash). They let
an unchanged file or object be identified without reading it again.

The stat identity is :class:`~lineage_core.hashing.content.StatKey`: device, inode, size, mtime_ns and
ctime_ns. Rows written before migration 0006 have no device or ctime: they are never returned (a miss, so
the file is hashed again and the row rewritten whole), never trusted on what they do record. Inode and
device numbers are unsigned 64-bit; they are stored as the signed 64-bit integer with the same bits."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from ..hashing.content import HASH_SCHEMA, StatKey
from ..hashing.remote import RemoteStat
from . import schema as t
from .base import StoreBase
from .stat_rows import signed as _signed
from .stat_rows import stat_rows as _stat_rows


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
        return _stat_rows(self._hash_rows(sc.path, paths, *_STAT_COLUMNS))

    def get_under(self, directory: str) -> dict[str, tuple[StatKey, str]]:
        sc = t.stat_cache.c
        under = self._under(sc.path, directory.rstrip(os.sep) + os.sep)  # byte order, whatever the collation
        q = sa.select(sc.path, *_STAT_COLUMNS).where(under, sc.schema == HASH_SCHEMA)
        with self.engine.connect() as c:
            return _stat_rows(c.execute(q))

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
            {"path": p, "size": k.size, "mtime_ns": k.mtime_ns, "inode": _signed(k.inode), "hash": h,
             "schema": HASH_SCHEMA, "device": _signed(k.device), "ctime_ns": k.ctime_ns}
            for p, k, h in rows
        ]
        self._upsert(t.stat_cache, "path", data)


_STAT_COLUMNS = tuple(t.stat_cache.c[n] for n in ("size", "mtime_ns", "inode", "device", "ctime_ns", "hash"))

