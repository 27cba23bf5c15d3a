"""Golden expected OpenLineage events (as Airflow's provider tests keep them): what an example DAG or pipeline
sends, with what changes per run (ids, times, hashes, temp paths, versions of the software) replaced by
placeholders, kept in ``expected_events/<name>.json`` beside the suite.

Only what lineage-core is responsible for is compared: the event type, the job, the parent job, the datasets
(namespace and name), our facets (``lineage_cache`` with its component names and miss reasons,
``lineage_environment``'s fields) and which standard facets are present. ``LINEAGE_UPDATE_GOLDEN=1`` rewrites
the files (review the diff before committing it).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HASH = re.compile(r"blake3:[0-9a-f…]+")
_BLOB = re.compile(r"blobs/[0-9a-f]{2}/[0-9a-f]{64}")  # a content-addressed blob's path
_TMP = re.compile(r"/tmp/[^\s'\"]*?(?=/pipeline-root/|/lineage-home/|/airflow-home-|[\s'\"]|$)")
_KEPT_RUN_FACETS = ("lineage_cache", "lineage_environment", "parent", "errorMessage")
_ORDER = {"START": 0, "RUNNING": 1, "COMPLETE": 2, "FAIL": 2, "ABORT": 2}


def _text(value: str) -> str:
    value = _UUID.sub("<uuid>", value)
    value = _HASH.sub("<hash>", value)
    value = _BLOB.sub("blobs/<hash>", value)
    value = _TMP.sub("<tmp>", value)
    return re.sub(r"<tmp>/[^/\s]*pipeline-root/[^/\s]+/", "<tmp>/pipeline-root/<run>/", value)


def _datasets(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({"namespace": d["namespace"], "name": _text(d["name"]), "facets": sorted(d.get("facets") or {})}
                   for d in items), key=lambda d: (d["namespace"], d["name"]))


def normalise(event: dict[str, Any]) -> dict[str, Any]:
    facets = event["run"].get("facets") or {}
    run: dict[str, Any] = {}
    cache = facets.get("lineage_cache")
    if cache is not None:
        run["lineage_cache"] = {
            "hit": cache["hit"], "keySchema": cache.get("keySchema"),
            "components": sorted(cache.get("components") or {}),
            "sourceRunId": "<uuid>" if cache.get("sourceRunId") else None,
            "missReasons": [_text(r) for r in cache.get("missReasons") or []],
        }
    env = facets.get("lineage_environment")
    if env is not None:
        run["lineage_environment"] = sorted(env)
    parent = facets.get("parent")
    if parent is not None:
        run["parent"] = {"job": parent["job"], "root": sorted(parent.get("root") or {})}
    if "errorMessage" in facets:
        run["errorMessage"] = _text(facets["errorMessage"]["message"])
    return {
        "eventType": event["eventType"],
        "job": {"namespace": event["job"]["namespace"], "name": event["job"]["name"],
                "facets": sorted(event["job"].get("facets") or {})},
        "run": run,
        "inputs": _datasets(event.get("inputs") or []),
        "outputs": _datasets(event.get("outputs") or []),
    }


def normalise_all(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [normalise(e) for e in events]
    return sorted(out, key=lambda e: (e["job"]["name"], _ORDER.get(e["eventType"], 3), json.dumps(e, sort_keys=True)))


def check_golden(directory: Path, name: str, events: Iterable[dict[str, Any]]) -> None:
    """Assert ``events`` (normalised) equal ``directory/expected_events/<name>.json``."""
    path = directory / "expected_events" / f"{name}.json"
    got = normalise_all(events)
    if os.environ.get("LINEAGE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    assert path.exists(), f"no golden events at {path}: run with LINEAGE_UPDATE_GOLDEN=1 and review them"
    expected = json.loads(path.read_text())
    assert got == expected, f"events differ from {path} (LINEAGE_UPDATE_GOLDEN=1 rewrites it; review the diff)"
