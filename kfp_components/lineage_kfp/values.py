"""What a by-reference component's ``result`` artifact holds, and how the next component reads it back.

Normally ``result`` is a file: the JSON of an ``ArtifactRef`` (the value is in the shared store). On the null
path (``LINEAGE_DISABLED``, or a cache that does not write) there is no stored value to refer to, so
``result`` is a directory holding the value itself, written with the cache's own materializers, as a plain
component would write its output: ``lineage-value.json`` (the materializer and its metadata), ``data`` (the
bytes) and, for a directory tree, ``blobs/`` (its files, by content). :func:`read_result` gives a downstream
component an ``ArtifactRef`` or the real value, so it works whether the upstream task was cached or not.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from lineage_core.integration import (
    ArtifactRef,
    ArtifactStore,
    LoadContext,
    SaveContext,
    materializer_by_id,
    materializer_for,
)

VALUE_INFO = "lineage-value.json"
_FORMAT = "lineage.kfp-value/1"


def write_ref(path: str, ref: ArtifactRef, run_id: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump({**ref.to_dict(), "lineage_run_id": run_id}, f)


def write_value(path: str, value: Any, *, step: str, allow_pickle: bool) -> str:
    """Write ``value`` as a self-describing directory at ``path``; returns the materializer's id."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    m = materializer_for(value, allow_pickle, step)
    blobs = ArtifactStore((root / "blobs").as_uri(), options={})  # a tree's files; nothing else is kept
    meta = m.save(value, str(root / "data"), SaveContext(blobs))
    info = {"format": _FORMAT, "materializer": m.id, "meta": meta}
    (root / VALUE_INFO).write_text(json.dumps(info, sort_keys=True), encoding="utf-8")
    return m.id


def read_result(path: str, *, allow_pickle: bool) -> Any:
    """An upstream component's ``result``: its ``ArtifactRef``, or its plain value (loaded here)."""
    root = Path(path)
    if not (root / VALUE_INFO).is_file():
        with open(root, encoding="utf-8") as f:
            return ArtifactRef.from_dict(json.load(f))
    info = json.loads((root / VALUE_INFO).read_text(encoding="utf-8"))
    m = materializer_by_id(info["materializer"], allow_pickle)
    scratch = Path(tempfile.mkdtemp(prefix="lineage-kfp-value-"))
    blobs = ArtifactStore((root / "blobs").as_uri(), options={}) if (root / "blobs").is_dir() else None
    return m.load((root / "data").read_bytes(), info["meta"], LoadContext(scratch, blobs))
