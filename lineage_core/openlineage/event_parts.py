"""The parts of an event derivation reads, and how Marquez reads them: a run's ``parent`` facet, a dataset's
source and version, which facets a dataset version shows and which are the run's, and what a batch touches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..runs import EventType
from . import versions as v

Key = tuple[str, str]


@dataclass
class Parsed:
    """One event that passed :func:`lineage_core.openlineage.ingest.parse`: what derivation folds."""

    kind: str  # RunEvent | JobEvent | DatasetEvent
    payload: dict[str, Any]
    time: float
    event_type: EventType | None = None
    run_id: str | None = None
    job: tuple[str, str] | None = None


def merge_facets(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    """Facets accumulate; a facet sent again replaces the old one; ``_deleted: true`` removes it."""
    merged = dict(old or {})
    for key, facet in (new or {}).items():
        if isinstance(facet, dict) and facet.get("_deleted") is True:
            merged.pop(key, None)
        else:
            merged[key] = facet
    return merged


def facet(facets: Any, name: str) -> dict[str, Any]:
    """The facet ``name`` of a facets object, or {} (absent, or not an object)."""
    found = facets.get(name) if isinstance(facets, dict) else None
    return found if isinstance(found, dict) else {}


def parent_of(p: Parsed) -> tuple[Key, str, str] | None:
    """(parent job, parent job's name as the facet gives it, parent run id) of a RunEvent's ``parent`` facet."""
    if p.kind != "RunEvent" or p.job is None:
        return None
    found = facet((p.payload.get("run") or {}).get("facets"), "parent")
    job, run = found.get("job"), found.get("run")
    if not (isinstance(job, dict) and isinstance(run, dict) and isinstance(job.get("namespace"), str)
            and isinstance(job.get("name"), str) and isinstance(run.get("runId"), str)):
        return None
    return (job["namespace"], v.parent_job_name(job["name"], p.job[1])), job["name"], run["runId"]


def touched(events: list[Parsed]) -> tuple[set[Key], set[Key], set[str]]:
    """The jobs (with parents), datasets and runs (with parents) a batch of events touches."""
    jobs: set[Key] = set()
    datasets: set[Key] = set()
    runs: set[str] = set()
    for p in events:
        e = p.payload
        if p.kind == "DatasetEvent":
            datasets.add((e["dataset"]["namespace"], e["dataset"]["name"]))
            continue
        assert p.job is not None
        jobs.add(p.job)
        if p.run_id:
            runs.add(p.run_id)
        parent = parent_of(p)
        if parent:
            jobs.add(parent[0])
            runs.add(v.parent_run_uuid(parent[0][0], parent[1], parent[2]))
        datasets.update((ds["namespace"], ds["name"]) for side in ("inputs", "outputs") for ds in datasets_of(e, side))
    return jobs, datasets, runs


_INPUT_NAMED = {"dataqualitymetrics", "dataqualityassertions"}  # Marquez files these dataset facets as input
_OUTPUT_NAMED = {"outputstatistics"}  # and this one as an output one


def facet_sides(ds: dict[str, Any], facets: dict[str, Any], direction: str) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
    """(the facets a version shows, the run's facets for it), as Marquez files them: a read's ``inputFacets`` and
    the ``dataQuality*`` dataset facets are input facets (a version shows those too), a write's ``outputFacets``
    and ``outputStatistics`` output facets (a version does not)."""
    own = ds.get("inputFacets" if direction == "in" else "outputFacets")
    own = own if isinstance(own, dict) else {}
    named = _INPUT_NAMED if direction == "in" else _OUTPUT_NAMED
    shown = {k: f for k, f in facets.items() if k.lower() not in _OUTPUT_NAMED}
    run_facets = merge_facets({k: f for k, f in facets.items() if k.lower() in named}, own)
    return (merge_facets(shown, own) if direction == "in" else shown), run_facets


def version_of(ds: dict[str, Any], run_id: str | None) -> tuple[str, str]:
    """(source name, version) of one write of a dataset, from its facets in the event."""
    facets = ds["facets"] if isinstance(ds.get("facets"), dict) else {}
    source = facet(facets, "dataSource").get("name")
    source = source if isinstance(source, str) else "default"
    lifecycle = facet(facets, "lifecycleStateChange").get("lifecycleStateChange")
    return source, v.dataset_version(ds["namespace"], source, ds["name"], v.schema_fields(facets),
                                   lifecycle if isinstance(lifecycle, str) else "", run_id)


def valid(ds: Any) -> bool:
    return isinstance(ds, dict) and isinstance(ds.get("namespace"), str) and isinstance(ds.get("name"), str)


def datasets_of(e: dict[str, Any], side: str) -> list[dict[str, Any]]:
    return [ds for ds in e.get(side) or [] if valid(ds)]


