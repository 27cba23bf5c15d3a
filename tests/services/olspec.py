"""Offline validation against the official OpenLineage JSON Schemas (../shared/openlineage-spec), with
$refs resolved locally by `referencing`; our own facet schemas (shipped in the package) join the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from lineage_core.openlineage.facets import SCHEMAS

SPEC = Path(__file__).resolve().parents[3] / "shared" / "openlineage-spec" / "spec"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def spec_registry() -> Registry:
    if not SPEC.is_dir():
        pytest.fail(f"the OpenLineage spec is expected at {SPEC} (../shared/openlineage-spec)")
    files = [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json")), *sorted(SCHEMAS.glob("*.json"))]
    resources = []
    for f in files:
        doc = json.loads(f.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)


def validate(registry: Registry, url: str, instance: Any) -> None:
    base, _, pointer = url.partition("#")
    schema = {"$ref": url} if pointer else {"$ref": base}
    Draft202012Validator(schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(
        instance
    )


def check_event(registry: Registry, event: dict[str, Any], known_facets_only: bool = False) -> None:
    """The event against the spec, then every facet against the schema its _schemaURL names
    (``known_facets_only``: skip facets whose schema is neither in the spec nor ours, e.g. a provider's own)."""
    validate(registry, RUN_EVENT, event)
    facet_groups = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    facet_groups += [d.get("facets", {}) for d in event.get("inputs", []) + event.get("outputs", [])]
    for group in facet_groups:
        for facet in group.values():
            url = facet["_schemaURL"]
            if known_facets_only and not _known(registry, url):
                continue
            validate(registry, url, facet)


def _known(registry: Registry, url: str) -> bool:
    try:
        registry.get_or_retrieve(url.partition("#")[0])
    except Exception:
        return False
    return True
