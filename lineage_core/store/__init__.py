"""Where runs, keys and artifacts live: ``metadata`` (SQL), ``artifacts`` (fsspec), ``materializers``.

Attributes load on first use so that importing a submodule (materializers) does not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ArtifactRecord", "ArtifactStore", "CacheEntry", "Store"]

if TYPE_CHECKING:
    from .artifacts import ArtifactRecord, ArtifactStore
    from .metadata import CacheEntry, Store

_LAZY = {"ArtifactRecord": "artifacts", "ArtifactStore": "artifacts", "CacheEntry": "metadata", "Store": "metadata"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'lineage_core.store' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
