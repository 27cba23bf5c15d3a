"""lineage-core's custom OpenLineage run facets, built on openlineage-python's facet base classes.

Keys ``lineage_cache``, ``lineage_environment``, ``lineage_metrics`` and ``lineage_llm``; each ``_schemaURL``
names a JSON Schema shipped in ``lineage_core/openlineage/schemas/`` (same ``$id``), so consumers can validate them.
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
LLM_FACET_URL = f"{_BASE}/LineageLLMRunFacet.json#/$defs/LineageLLMRunFacet"


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


def _tokens(usage: Any) -> dict[str, int] | None:
    if not isinstance(usage, dict):
        return None
    out = {k: int(usage.get(k) or 0) for k in ("input", "output", "total")}
    return {**out, "cachedInput": int(usage.get("cached_input") or 0)}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@attr.define
class LineageLLMRunFacet(RunFacet):
    """An LLM call's model, usage, latency and cost (lineage_core.llm, the run context's ``llm``); on a hit,
    what it saved. Never the prompt, the answer or a header."""

    kind: str
    stream: bool
    latencySeconds: float
    model: str | None = attr.field(default=None)
    usage: dict[str, int] | None = attr.field(default=None)
    costUsd: float | None = attr.field(default=None)
    sample: int | None = attr.field(default=None)
    saved: dict[str, Any] | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return LLM_FACET_URL

    @classmethod
    def from_context(cls, llm: dict[str, Any]) -> LineageLLMRunFacet:
        """The facet of a run context's ``llm`` entry (as lineage_core.llm.calls records it)."""
        saved = llm.get("saved")
        return cls(
            kind=str(llm.get("kind") or "unknown"), stream=bool(llm.get("stream")),
            latencySeconds=max(_number(llm.get("latency_s")) or 0.0, 0.0),
            model=llm.get("model") if isinstance(llm.get("model"), str) else None, usage=_tokens(llm.get("usage")),
            costUsd=_number(llm.get("cost_usd")),
            sample=llm["sample"] if isinstance(llm.get("sample"), int) and llm["sample"] >= 0 else None,
            saved=None if not isinstance(saved, dict) else {
                "latencySeconds": _number(saved.get("latency_s")), "tokens": _tokens(saved.get("tokens")),
                "costUsd": _number(saved.get("cost_usd"))},
        )
