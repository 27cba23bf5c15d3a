"""A job's versions, as Marquez 0.51's ``GET /api/v1/namespaces/{ns}/jobs/{job}/versions`` lists them: each
version (:func:`.versions.job_version`) with when it was made (its first run's end; a streaming run's last
event), its source-code location, the datasets it reads and writes, and its latest run (whose ``facets`` are, as
Marquez's query reads them, the run's job facets), newest first. Read from the runs that made them (two keyed
statements more for the latest runs), plus the version a JobEvent made, which has no run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..store.ol_read import Key, LineageReader, read_lineage
from .views import iso, runs_by_id, with_symlinks

if TYPE_CHECKING:
    from ..store import Store


def _location(job_facets: dict[str, Any]) -> str | None:
    found = (job_facets.get("sourceCodeLocation") or {}).get("url") if isinstance(job_facets, dict) else None
    return found if isinstance(found, str) else None


def _ids(refs: set[Key]) -> list[dict[str, str]]:
    return [{"namespace": ns, "name": name} for ns, name in sorted(refs)]


def job_versions(store: Store, namespace: str, name: str, limit: int, offset: int) -> dict[str, Any] | None:
    """``{versions: [...]}`` of one job, or None if there is no such job."""
    with read_lineage(store) as r:
        jobs = r.jobs([(namespace, name)])
        if not jobs:
            return None
        made: dict[str, dict[str, Any]] = {}
        for run_id, version, ended, job_facets in r.versioned_runs(namespace, name):
            entry = made.setdefault(version, {"created": ended, "run": run_id, "facets": job_facets})
            entry.update(run=run_id, facets=job_facets)  # the latest run of the version (oldest end first)
        runs = runs_by_id(r, sorted({e["run"] for e in made.values()}))
        job = jobs[0]
        if job.current_version and job.current_version not in made:  # a JobEvent's: no run made it
            sides: dict[str, set[Key]] = {"in": set(), "out": set()}
            for e in r.edges([(namespace, name)], of="job"):
                sides[e.direction].add((e.dataset_namespace, e.dataset_name))
            made[job.current_version] = {"created": job.updated_at, "run": None, "facets": job.facets, "io": sides}
        versions = [_version(r, namespace, name, version, entry, runs) for version, entry in made.items()]
    versions.sort(key=lambda v: (v["createdAt"] or "", v["version"]), reverse=True)
    return {"versions": versions[offset : offset + limit]}


def _version(r: LineageReader, namespace: str, name: str, version: str, entry: dict[str, Any],
             runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    run = runs.get(entry["run"]) if entry["run"] else None
    if run is not None:  # as Marquez reads it for a version: the run's job facets as its facets, and its
        run = {**run, "facets": entry["facets"] or {}, **{  # dataset versions without their facets
            side: [{**dv, "facets": {}} for dv in run[side]] for side in ("inputDatasetVersions",
                                                                          "outputDatasetVersions")}}
    io = entry.get("io") or {
        side: {(v["datasetVersionId"]["namespace"], v["datasetVersionId"]["name"]) for v in (run or {}).get(
            f"{key}DatasetVersions", [])} for side, key in (("in", "input"), ("out", "output"))}
    io = {side: with_symlinks(r, refs) for side, refs in io.items()}  # and their other names, as Marquez lists them
    return {"id": {"namespace": namespace, "name": name, "version": version}, "name": name,
            "createdAt": iso(entry["created"]), "version": version, "namespace": namespace,
            "location": _location(entry["facets"]), "inputs": _ids(io["in"]), "outputs": _ids(io["out"]),
            "latestRun": run}
