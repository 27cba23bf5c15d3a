"""What Airflow's ProvidersManager reads (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    from lineage_core import __version__

    return {
        "package-name": "lineage-core",  # the distribution that ships this provider
        "name": "lineage-core",
        "description": "Cached, deduplicated and traceable tasks: content-addressed cache, environment capture "
                       "and OpenLineage facets for Airflow tasks.",
        "versions": [__version__],
        "connection-types": [{"connection-type": "lineage", "hook-class-name": "lineage_airflow.hooks.LineageHook"}],
        "task-decorators": [{"name": "cached", "class-name": "lineage_airflow.operators.cached_task"}],
        "operators": [{"integration-name": "lineage-core",
                       "python-modules": ["lineage_airflow.operators", "lineage_airflow.pod"]}],
        "hooks": [{"integration-name": "lineage-core", "python-modules": ["lineage_airflow.hooks"]}],
        "integrations": [{"integration-name": "lineage-core", "tags": ["software"]}],
    }
