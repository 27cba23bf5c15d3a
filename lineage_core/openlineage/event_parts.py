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


@dataclass(frozen=True)
class ParentRef:
    """A RunEvent's ``parent`` facet as Marquez reads it (``OpenLineageDao.buildJobFromEvent``)."""

    namespace: str  # the facet's job namespace
    name: str  # the parent job's name: the facet's, unless it names the child itself (then ``dag`` of ``dag.task``)
    run_id: str  # the parent run's UUID
    other_run_id: str  # its UUID when ``run_id`` is a run of another job (Marquez's "run UUID conflict")

    def child_name(self, name: str) -> str:
        """The child job's name in the read model: ``<parent>.<child>``, unless it starts so already."""
        return name if name.startswith(f"{self.name}.") else f"{self.name}.{name}"


def parent_of(p: Parsed) -> ParentRef | None:
    """The ``parent`` facet of a RunEvent (as sent: ``p.job`` must be the job name the event gives)."""
    if p.kind != "RunEvent" or p.job is None:
        return None
    found = facet((p.payload.get("run") or {}).get("facets"), "parent")
    job, run = found.get("job"), found.get("run")
    if not (isinstance(job, dict) and isinstance(run, dict) and isinstance(job.get("namespace"), str)
            and isinstance(job.get("name"), str) and isinstance(run.get("runId"), str)):
        return None
    name = v.parent_job_name(job["name"], p.job[1])
    run_id = v.parent_run_uuid(job["namespace"], job["name"], run["runId"])
    return ParentRef(job["namespace"], name, run_id, v.name_based_uuid(job["namespace"], name, run_id))


def model_job(p: Parsed, parent: ParentRef | None) -> Key | None:
    """The job an event's run belongs to in the read model: Marquez files a child job under
    ``<parent>.<child>`` in the child's namespace (the raw event keeps the name it was sent with)."""
    if p.job is None or parent is None:
        return p.job
    return p.job[0], parent.child_name(p.job[1])


def touched(events: list[Parsed]) -> tuple[set[Key], set[Key], set[str]]:
    """The jobs (with parents, wherever Marquez may file them), datasets and runs (with parents) a batch of
    events touches."""
    jobs: set[Key] = set()
    datasets: set[Key] = set()
    runs: set[str] = set()
    for p in events:
        e = p.payload
        if p.kind == "DatasetEvent":
            datasets.add((e["dataset"]["namespace"], e["dataset"]["name"]))
            continue
        assert p.job is not None
        parent = parent_of(p)
        jobs.add(model_job(p, parent) or p.job)
        if p.run_id:
            runs.add(p.run_id)
        if parent:
            jobs |= {(parent.namespace, parent.name), (p.job[0], parent.name)}
            runs |= {parent.run_id, parent.other_run_id}
        datasets.update((ds["namespace"], ds["name"]) for side in ("inputs", "outputs") for ds in datasets_of(e, side))
    return jobs, datasets, runs


def symlinks_of(ds: dict[str, Any]) -> list[tuple[Key, str | None]]:
    """The other names a dataset's ``symlinks`` facet gives it: (namespace, name) and type of each identifier."""
    found = facet(ds.get("facets"), "symlinks").get("identifiers")
    return [((i["namespace"], i["name"]), i["type"] if isinstance(i.get("type"), str) else None)
            for i in found if valid(i)] if isinstance(found, list) else []


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


