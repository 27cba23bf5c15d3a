"""Run ids: UUIDv7, so ids sort by creation time (as OpenLineage's ``generate_new_uuid`` does); and any other
producer's run id as a UUID, as Marquez derives one."""

from __future__ import annotations

import os
import re
import threading
import time

from . import forks

# The canonical text form, as str(uuid.UUID(...)) writes it (uuid itself imports platform: not on the hit path).
# Compiled by re's own cache when an event first needs it: a hit never does.
_CANONICAL = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_POOL = 4000  # random bytes a thread draws from the OS at once: 400 run ids' worth, one system call
_pools = threading.local()  # per thread, so no two threads ever take the same bytes


def _random_80() -> int:
    """80 bits from ``os.urandom``, drawn a pool at a time (a pool never crosses a fork: a child draws its own)."""
    pools = _pools
    at: int = getattr(pools, "at", _POOL)
    if at >= _POOL or pools.forks != forks.generation:
        pools.pool, pools.forks, at = os.urandom(_POOL), forks.generation, 0
    pools.at = at + 10
    return int.from_bytes(pools.pool[at:at + 10], "big")


def new_run_id() -> str:
    ms = time.time_ns() // 1_000_000
    rand = _random_80()
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return _text(value)


def run_uuid(run_id: str) -> str:
    """A run id as a UUID: itself when it is one, else Marquez's ``UUID.nameUUIDFromBytes`` (MD5, version 3)."""
    if re.fullmatch(_CANONICAL, run_id):
        return run_id
    if run_id.isascii() and run_id.isdigit() and len(run_id) != 32:  # a number (kfp.local's run id): never a UUID
        value = int.from_bytes(_md5(run_id.encode()), "big")  # nameUUIDFromBytes, as uuid.UUID(version=3) sets it
        value &= ~(0xC000 << 48)
        value |= 0x8000 << 48
        value &= ~(0xF000 << 64)
        value |= 3 << 76
        return _text(value)
    import uuid  # any other form uuid.UUID accepts (upper case, braces, urn:uuid:, no hyphens), or a name

    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.UUID(bytes=_md5(run_id.encode()), version=3))


def _md5(data: bytes) -> bytes:
    """MD5 (a name-based UUID's, not security): the interpreter's own module, not OpenSSL's hashlib, where built."""
    try:
        from _md5 import md5
    except ImportError:
        from hashlib import md5
    digest: bytes = md5(data).digest()  # noqa: S324
    return digest
