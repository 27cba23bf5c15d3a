"""Run ids: UUIDv7, so ids sort by creation time (as OpenLineage's ``generate_new_uuid`` does); and any other
producer's run id as a UUID, as Marquez derives one."""

from __future__ import annotations

import hashlib
import os
import time
import uuid


def new_run_id() -> str:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def run_uuid(run_id: str) -> str:
    """A run id as a UUID: itself when it is one, else Marquez's ``UUID.nameUUIDFromBytes`` (MD5, version 3)."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.UUID(bytes=hashlib.md5(run_id.encode()).digest(), version=3))  # noqa: S324
