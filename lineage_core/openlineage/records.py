"""RunRecords (and so OpenLineage events) for runs already in the store: the store is the source of
truth, so events can be (re)built and replayed at any time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..status import EventType, RunStatus
from .events import DatasetRef, RunRecord, event_dict

if TYPE_CHECKING:
    from ..store import CacheStore


def _inputs(manifest: dict[str, Any]) -> list[DatasetRef]:
    refs = []
    for name, digest in (manifest.get("inputs") or {}).items():
        where = (manifest.get("display") or {}).get(name, "")
        if where.startswith("/") or "://" in where:  # a file or a URL; in-memory arrays are not datasets
            refs.append(DatasetRef(where, digest))
    return refs


def _outputs(store: CacheStore, key: str | None) -> list[DatasetRef]:
    entry = store.lookup(key) if key else None
    if entry is None:
        return []
    fields = None
    if entry.materializer.startswith("pandas"):
        fields = list(zip(entry.meta.get("columns", []), entry.meta.get("dtypes", []), strict=False)) or None
    return [DatasetRef(store.artifacts.uri_for(entry.artifact_hash), entry.artifact_hash, fields)]


def _around(context: dict[str, Any], direction: str, known: list[DatasetRef]) -> list[DatasetRef]:
    """``known`` plus the locations an orchestrator recorded around the step (``context["datasets"]``: KFP's
    input and output artifacts), each once."""
    seen = {d.location for d in known}
    extra = [loc for loc in (context.get("datasets") or {}).get(direction) or [] if isinstance(loc, str)]
    return known + [DatasetRef(loc) for loc in dict.fromkeys(extra) if loc not in seen]


def run_records(store: CacheStore, run_id: str) -> list[RunRecord]:
    """START and, once finished, the terminal record of one stored run."""
    run = store.get_run(run_id)
    status = RunStatus(run["status"])
    manifest = store.manifest(run["cache_key"]) if run["cache_key"] else None
    env = store.get_environment(run["environment_hash"]) if run["environment_hash"] else None
    common: dict[str, Any] = {
        "run_id": run["id"], "namespace": run["namespace"], "job": run["job"], "key": run["cache_key"],
        "manifest": manifest, "hit": status is RunStatus.CACHED, "source_run_id": run["source_run_id"],
        "reasons": run["reasons"] or [], "environment": env.to_dict() if env else None,
        "packages": ((manifest or {}).get("env") or {}).get("packages") or {},
        "inputs": _around(run["context"] or {}, "inputs", _inputs(manifest or {})),
        "context": run["context"] or {}, "error": run["error"],
    }
    records = [RunRecord(event_type=EventType.START, time=run["started_at"], **common)]
    if status.finished and run["ended_at"]:
        terminal = status.event_type
        outputs = []
        if terminal is EventType.COMPLETE:
            outputs = _around(common["context"], "outputs", _outputs(store, run["cache_key"]))
        records.append(RunRecord(event_type=terminal, time=run["ended_at"], outputs=outputs, **common))
    return records


def run_events(store: CacheStore, run_id: str) -> list[dict[str, Any]]:
    return [event_dict(r) for r in run_records(store, run_id)]
