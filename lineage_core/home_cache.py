"""Facts derived from files that rarely change, kept in ``LINEAGE_HOME/cache`` so that a process-per-task worker or
a pod works them out once per change rather than once per process: what ``sys.path`` holds installed
(:mod:`lineage_core.installed`), and the syntax of user code (:mod:`lineage_core.code_shapes`).

Each record is one small JSON file named by what it describes and holding the identity of what it was derived
from; a reader uses it only when that identity still holds. A file or directory changed within :data:`SETTLED_NS`
is never recorded under its identity: a coarse file clock (a kernel tick, a second on some file systems) could
give a second change within the same tick the same mtime, while the ctime of any later change is later still (a
change cannot set ctime back).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .hashing.content import hash_bytes
from .settings import Settings

SETTLED_NS = 2_000_000_000


def settled(mtime_ns: int, ctime_ns: int, now_ns: int) -> bool:
    """Whether a file or directory with these times has not changed for :data:`SETTLED_NS` (its identity can be
    recorded)."""
    return now_ns - max(mtime_ns, ctime_ns) >= SETTLED_NS


def record_path(kind: str, name: str) -> Path:
    """Where the record of ``kind`` for ``name`` (a path, a fingerprint's text) lives in this home's cache."""
    return Settings.current().home / "cache" / f"{kind}-{hash_bytes(name.encode()).partition(':')[2][:24]}.json"


def read_record(path: Path) -> Any:
    """The record's JSON, or None when it is missing or unreadable (then it is derived again)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_record(path: Path, data: Any) -> None:
    """Write a record atomically (a reader sees the old or the new one whole); a read-only home only costs the
    derivation next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
    except OSError:
        pass
