"""lineage-core for Kubeflow Pipelines: components whose body consults the shared cache first.

``from lineage_kfp import cached_component, gpu_training_component, ContainerTask`` (``ContainerTask``, a
component's ``task=``, is the core's, re-exported).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ContainerTask", "cached_component", "gpu_training_component"]

if TYPE_CHECKING:
    from lineage_core.integration import ContainerTask

    from .components import cached_component, gpu_training_component


def __getattr__(name: str) -> Any:
    if name == "ContainerTask":
        from lineage_core.integration import ContainerTask

        return ContainerTask
    if name in __all__:
        from . import components

        return getattr(components, name)
    raise AttributeError(f"module 'lineage_kfp' has no attribute {name!r}")
