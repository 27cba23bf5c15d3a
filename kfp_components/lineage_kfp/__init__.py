"""lineage-core for Kubeflow Pipelines: components whose body consults the shared cache first.

``from lineage_kfp import cached_component, gpu_training_component``
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["cached_component", "gpu_training_component"]

if TYPE_CHECKING:
    from .components import cached_component, gpu_training_component


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import components

        return getattr(components, name)
    raise AttributeError(f"module 'lineage_kfp' has no attribute {name!r}")
