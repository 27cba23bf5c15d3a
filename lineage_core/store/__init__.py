"""Where runs, keys and artifacts live: ``metadata`` (SQL), ``artifacts`` (fsspec), ``materializers``,
``remote`` (the lineage server as a store), ``protocol`` (what the cache path needs of either).

Attributes load on first use so that importing a submodule (materializers) does not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ArtifactRecord", "ArtifactStore", "CacheEntry", "CacheStore", "RemoteStore", "Store"]

if TYPE_CHECKING:
    from .artifacts import ArtifactRecord, ArtifactStore
    from .metadata import Store
    from .protocol import CacheEntry, CacheStore
    from .remote import RemoteStore

_LAZY = {
    "ArtifactRecord": "artifacts", "ArtifactStore": "artifacts", "CacheEntry": "protocol", "CacheStore": "protocol",
    "RemoteStore": "remote", "Store": "metadata",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'lineage_core.store' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
