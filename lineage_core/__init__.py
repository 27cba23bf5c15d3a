"""lineage-core: cached, deduplicated and traceable steps for the orchestrators you already run.

The public API is small; heavy modules (SQLAlchemy, the store, environment capture) load on first
use, so ``import lineage_core`` stays cheap enough for any worker or CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import LineageError, UnhashableInputError
from .version import __version__

__all__ = [
    "ArtifactRef",
    "CachedFunction",
    "EnvironmentSnapshot",
    "LineageError",
    "MetricError",
    "Outcome",
    "Store",
    "UnhashableInputError",
    "Uri",
    "__version__",
    "cached",
    "capture_environment",
    "diff_environments",
    "explain",
    "load",
    "log_metric",
    "register_hasher",
    "register_materializer",
]

_LAZY = {
    "ArtifactRef": "refs",
    "cached": "cache",
    "explain": "cache",
    "CachedFunction": "cache",
    "Outcome": "cache",
    "Store": "store",
    "capture_environment": "environment",
    "diff_environments": "diff",
    "EnvironmentSnapshot": "environment",
    "register_hasher": "hashing",
    "Uri": "hashing",
    "register_materializer": "store.materializers",
    "load": "load",
    "log_metric": "metrics",
    "MetricError": "metrics",
}

if TYPE_CHECKING:
    from .cache import CachedFunction, Outcome, cached, explain
    from .diff import diff_environments
    from .environment import EnvironmentSnapshot, capture_environment
    from .hashing import Uri, register_hasher
    from .load import load
    from .metrics import MetricError, log_metric
    from .refs import ArtifactRef
    from .store import Store
    from .store.materializers import register_materializer


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'lineage_core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value
