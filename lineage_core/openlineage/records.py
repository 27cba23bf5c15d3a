"""RunRecords (and so OpenLineage events) for runs already in the store: the store is the source of
truth, so events can be (re)built and replayed at any time.

A run's inputs and outputs are the datasets recorded with it when it was written (``run_datasets``), so its
events never change: invalidating or collecting its cache entry later rewrites no history. Runs written
before datasets were recorded have none; theirs are rebuilt as they always were (inputs from the key
manifest's file and URL arguments, outputs from the cache entry the run produced or served, while it lives).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..metrics import run_metrics
from ..status import EventType, RunStatus
from .events import DatasetRef, RunRecord, event_dict
from .naming import dataset_name

if TYPE_CHECKING:
    from ..store import CacheStore
    from ..store.protocol import RunDataset


def _refs(datasets: Iterable[RunDataset]) -> list[DatasetRef]:
    return [DatasetRef(d.location, d.version, list(d.fields) if d.fields else None)
            for d in datasets if d.location is not None]


def _legacy_inputs(manifest: dict[str, Any]) -> list[DatasetRef]:
    """A run recorded without datasets: its file and URL arguments, as the manifest displays them."""
    refs = []
    for name, digest in (manifest.get("inputs") or {}).items():
        where = (manifest.get("display") or {}).get(name, "")
        if where.startswith("/") or "://" in where:  # a file or a URL; in-memory arrays are not datasets
            refs.append(DatasetRef(where, digest))
    return refs


def _legacy_outputs(store: CacheStore, run: dict[str, Any]) -> list[DatasetRef]:
    """A run recorded without datasets: the blob of its key's entry, if that run produced it (or, for a hit,
    its source run did) and it is still there."""
    from ..function_key import output_dataset

    entry = store.lookup(run["cache_key"]) if run["cache_key"] else None
    if entry is None or entry.run_id not in (run["id"], run["source_run_id"]):
        return []
    return _refs([output_dataset(store, entry.artifact_hash, entry.materializer, entry.meta)])


def _around(context: dict[str, Any], direction: str, known: list[DatasetRef]) -> list[DatasetRef]:
    """``known`` plus the locations an orchestrator recorded around the step (``context["datasets"]``: KFP's
    input and output artifacts), each dataset once."""
    seen = {dataset_name(d.location) for d in known}
    extra = [loc for loc in (context.get("datasets") or {}).get(direction) or [] if isinstance(loc, str)]
    out = list(known)
    for loc in extra:
        if dataset_name(loc) not in seen:
            seen.add(dataset_name(loc))
            out.append(DatasetRef(loc))
    return out


def run_records(store: CacheStore, run_id: str) -> list[RunRecord]:
    """START and, once finished, the terminal record of one stored run."""
    run = store.get_run(run_id)
    status = RunStatus(run["status"])
    manifest = store.manifest(run["cache_key"]) if run["cache_key"] else None
    env = store.get_environment(run["environment_hash"]) if run["environment_hash"] else None
    read, wrote = store.run_datasets(run["id"])
    recorded = bool(read or wrote)
    context = run["context"] or {}
    common: dict[str, Any] = {
        "run_id": run["id"], "namespace": run["namespace"], "job": run["job"], "key": run["cache_key"],
        "manifest": manifest, "hit": status is RunStatus.CACHED, "source_run_id": run["source_run_id"],
        "reasons": run["reasons"] or [], "environment": env.to_dict() if env else None,
        "packages": ((manifest or {}).get("env") or {}).get("packages") or {},
        "inputs": _around(context, "inputs", _refs(read) if recorded else _legacy_inputs(manifest or {})),
        "context": context, "error": run["error"],
    }
    records = [RunRecord(event_type=EventType.START, time=run["started_at"], **common)]
    if status.finished and run["ended_at"]:
        terminal = status.event_type
        outputs = []
        if terminal is EventType.COMPLETE:
            outputs = _around(context, "outputs", _refs(wrote) if recorded else _legacy_outputs(store, run))
        metrics = run_metrics(store, run)  # a failed run's too: what it reached before it stopped
        records.append(RunRecord(event_type=terminal, time=run["ended_at"], outputs=outputs, metrics=metrics,
                                 **common))
    return records


def run_events(store: CacheStore, run_id: str) -> list[dict[str, Any]]:
    return [event_dict(r) for r in run_records(store, run_id)]
