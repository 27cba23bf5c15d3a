"""lineage-core for Airflow 3: cached TaskFlow tasks and operators, a connection and hook, and lineage
through Airflow's own OpenLineage provider. Thin: the cache, keys, store and events are the core's.

``from lineage_airflow import cached_task, CachedPythonOperator, CachedKubernetesPodOperator, LineageHook``;
``CacheSpec`` and ``ContainerTask`` (the pod operator's ``cache=`` and ``task=``) are the core's, re-exported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["CacheSpec", "CachedKubernetesPodOperator", "CachedPythonOperator", "ContainerTask", "LineageHook",
           "cached_task", "get_provider_info"]

_LAZY = {
    "cached_task": "operators",
    "CachedPythonOperator": "operators",
    "CachedKubernetesPodOperator": "pod",
    "LineageHook": "hooks",
    "get_provider_info": "provider",
    "CacheSpec": "container",
    "ContainerTask": "container",
}

if TYPE_CHECKING:
    from lineage_core.integration import CacheSpec, ContainerTask

    from .hooks import LineageHook
    from .operators import CachedPythonOperator, cached_task
    from .pod import CachedKubernetesPodOperator
    from .provider import get_provider_info


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'lineage_airflow' has no attribute {name!r}")
    import importlib

    if mod == "container":
        return getattr(importlib.import_module("lineage_core.integration"), name)
    return getattr(importlib.import_module(f".{mod}", __name__), name)
