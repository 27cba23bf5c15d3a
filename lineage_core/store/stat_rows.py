"""How the stat cache's rows encode a file's stat identity, shared by the SQL store (hashcache) and the sqlite3 hit
path (fast_sqlite): inode and device numbers are unsigned 64-bit, stored as the signed BIGINT with the same bits;
rows written before migration 0006 (no device or ctime) are never returned."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..hashing.content import StatKey


def signed(n: int) -> int:
    """An unsigned 64-bit number as the signed BIGINT with the same bits (and back with :func:`unsigned`)."""
    return n - (1 << 64) if n >= 1 << 63 else n


def unsigned(n: int) -> int:
    return n + (1 << 64) if n < 0 else n


def stat_rows(rows: Iterable[Any]) -> dict[str, tuple[StatKey, str]]:
    """Path -> (stat key, hash) from (path, size, mtime_ns, inode, device, ctime_ns, hash) rows, skipping rows from
    before migration 0006 (no device or ctime: a miss, so the file is hashed again and the row rewritten whole)."""
    return {
        p: (StatKey(size, mtime, unsigned(ino), unsigned(dev), ctime), h)
        for p, size, mtime, ino, dev, ctime, h in rows
        if dev is not None and ctime is not None
    }
