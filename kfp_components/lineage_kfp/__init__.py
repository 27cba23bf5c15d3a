"""lineage-core for Kubeflow Pipelines: components whose body consults the shared cache first.

``from lineage_kfp import cached_component``
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["cached_component"]

if TYPE_CHECKING:
    from .components import cached_component


def __getattr__(name: str) -> Any:
    if name == "cached_component":
        from .components import cached_component

        return cached_component
    raise AttributeError(f"module 'lineage_kfp' has no attribute {name!r}")
