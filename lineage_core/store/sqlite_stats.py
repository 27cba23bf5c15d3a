"""The stat caches (local files' stat identities, remote objects' etags) on sqlite3: what a hit reads to trust a
file it hashed before without reading it again, and writes for a file it just hashed. Part of the embedded store's
hit path (:class:`~lineage_core.store.fast_sqlite.FastSqliteStore` is one), on that store's connection; on a
database error, the SQL store's answer."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..hashing.content import HASH_SCHEMA, StatKey
from .stat_rows import signed, stat_rows

if TYPE_CHECKING:
    from ..hashing.remote import RemoteStat
    from .metadata import Store

_BATCH = 900  # host parameters per IN (...), as hashcache
_STAT_UPSERT = ("INSERT INTO stat_cache (path, size, mtime_ns, inode, hash, schema, device, ctime_ns) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET size = excluded.size, "
                "mtime_ns = excluded.mtime_ns, inode = excluded.inode, hash = excluded.hash, schema = excluded.schema, "
                "device = excluded.device, ctime_ns = excluded.ctime_ns")
_REMOTE_UPSERT = ("INSERT INTO remote_stat (uri, size, etag, version, hash, schema) VALUES (?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (uri) DO UPDATE SET size = excluded.size, etag = excluded.etag, "
                  "version = excluded.version, hash = excluded.hash, schema = excluded.schema")
_STAT = "SELECT path, size, mtime_ns, inode, device, ctime_ns, hash FROM stat_cache WHERE schema = ? AND "
_REMOTE = "SELECT uri, size, etag, version, hash FROM remote_stat WHERE schema = ? AND uri IN "


class SqliteStatCaches:
    """The stat-cache half of the store protocol, for a class that has ``_conn`` (this thread's connection) and
    ``_store`` (the SQL store)."""

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _store(self) -> Store:
        raise NotImplementedError

    def get_many(self, paths: Sequence[str]) -> dict[str, tuple[StatKey, str]]:
        try:
            return stat_rows(self._in(_STAT + "path IN ", paths))
        except sqlite3.Error:
            return self._store().get_many(paths)

    def get_under(self, directory: str) -> dict[str, tuple[StatKey, str]]:
        prefix = directory.rstrip(os.sep) + os.sep  # a byte-order range, as StoreBase._under on SQLite
        hi = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        try:
            rows = self._conn().execute(_STAT + "path >= ? AND path < ?", (HASH_SCHEMA, prefix, hi)).fetchall()
        except sqlite3.Error:
            return self._store().get_under(directory)
        return stat_rows(rows)

    def get_remote(self, uris: Sequence[str]) -> dict[str, tuple[RemoteStat, str]]:
        try:
            rows = list(self._in(_REMOTE, uris))
        except sqlite3.Error:
            return self._store().get_remote(uris)
        from ..hashing.remote import RemoteStat  # asked only while hashing a Uri: already imported

        return {uri: (RemoteStat(size, etag, version), h) for uri, size, etag, version, h in rows}

    def put_many(self, rows: Iterable[tuple[str, StatKey, str]]) -> None:
        """Stat identities of files just hashed (a hit's new input file is one): upserted in one transaction."""
        rows = list(rows)
        data = [(p, k.size, k.mtime_ns, signed(k.inode), h, HASH_SCHEMA, signed(k.device), k.ctime_ns)
                for p, k, h in rows]
        if data and not self._upsert(_STAT_UPSERT, data):
            self._store().put_many(rows)

    def put_remote(self, rows: Sequence[tuple[str, RemoteStat, str]]) -> None:
        data = [(u, st.size, st.etag, st.version, h, HASH_SCHEMA) for u, st, h in rows]
        if data and not self._upsert(_REMOTE_UPSERT, data):
            self._store().put_remote(rows)

    def _upsert(self, statement: str, data: list[tuple[Any, ...]]) -> bool:
        """Rows upserted in one transaction; False (nothing written) on a database error."""
        conn = self._conn()
        try:
            conn.execute("BEGIN")
            conn.executemany(statement, data)
            conn.execute("COMMIT")
        except sqlite3.Error:
            rollback(conn)
            return False
        except BaseException:
            rollback(conn)
            raise
        return True

    def _in(self, query: str, keys: Sequence[str]) -> Iterator[Any]:
        conn = self._conn()
        for i in range(0, len(keys), _BATCH):
            batch = keys[i : i + _BATCH]
            yield from conn.execute(f"{query}({', '.join('?' * len(batch))})", (HASH_SCHEMA, *batch)).fetchall()


def rollback(conn: sqlite3.Connection) -> None:
    """End a failed transaction (COMMIT can fail on a busy database and leave it open), keeping the first error."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
