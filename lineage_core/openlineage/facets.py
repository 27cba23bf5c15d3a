"""lineage-core's custom OpenLineage run facets, built on openlineage-python's facet base classes.

Keys ``lineage_cache``, ``lineage_environment`` and ``lineage_metrics``; each ``_schemaURL`` names a JSON Schema
shipped in ``lineage_core/openlineage/schemas/`` (same ``$id``), so consumers can validate them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attr
from openlineage.client.facet_v2 import RunFacet

SCHEMAS = Path(__file__).with_name("schemas")
_BASE = "https://lineage-core.io/spec/facets/1-0-0"
CACHE_FACET_URL = f"{_BASE}/LineageCacheRunFacet.json#/$defs/LineageCacheRunFacet"
ENVIRONMENT_FACET_URL = f"{_BASE}/LineageEnvironmentRunFacet.json#/$defs/LineageEnvironmentRunFacet"
METRICS_FACET_URL = f"{_BASE}/LineageMetricsRunFacet.json#/$defs/LineageMetricsRunFacet"


@attr.define
class LineageCacheRunFacet(RunFacet):
    hit: bool
    key: str
    keySchema: int | None = attr.field(default=None)
    components: dict[str, str] = attr.field(factory=dict)
    sourceRunId: str | None = attr.field(default=None)
    missReasons: list[str] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return CACHE_FACET_URL


@attr.define
class LineageEnvironmentRunFacet(RunFacet):
    python: str
    platform: str
    packagesHash: str
    implementation: str | None = attr.field(default=None)
    machine: str | None = attr.field(default=None)
    packages: dict[str, str] = attr.field(factory=dict)
    imageDigest: str | None = attr.field(default=None)
    gpu: dict[str, Any] = attr.field(factory=dict)
    git: dict[str, Any] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return ENVIRONMENT_FACET_URL


@attr.define
class LineageMetricsRunFacet(RunFacet):
    """The run's metrics (lineage_core.metrics), on its COMPLETE event; a hit's are its source run's."""

    metrics: dict[str, float]
    sourceRunId: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return METRICS_FACET_URL
