"""Run ids: UUIDv7, so ids sort by creation time (as OpenLineage's ``generate_new_uuid`` does)."""

from __future__ import annotations

import os
import time
import uuid


def new_run_id() -> str:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))
