"""Where runs, keys and artifacts live: ``metadata`` (SQL), ``artifacts`` (fsspec), ``materializers``."""

from .artifacts import ArtifactRecord, ArtifactStore
from .metadata import CacheEntry, Store

__all__ = ["ArtifactRecord", "ArtifactStore", "CacheEntry", "Store"]
