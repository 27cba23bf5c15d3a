"""Marquez's read model over the ingested lineage tables: the JSON shapes its web UI renders.

Namespaces, jobs (with their latest runs and the datasets they read and write), runs, run/job facets,
datasets (fields from the ``schema`` facet), dataset versions and search — the same field names and
list envelopes as Marquez 0.51 (``{<plural>: [...], totalCount}``; namespaces without a count), all
times ISO-8601 UTC. Every list is paged in SQL and every related row is fetched in one batched query,
so a page costs a fixed handful of statements whatever the size of the store.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from ..store.ol_read import Key, LineageReader, RunRow, read_lineage
from .derive import merge_facets

if TYPE_CHECKING:
    from ..store import Store

_SEARCHED: tuple[tuple[Literal["job", "dataset"], str], ...] = (("job", "JOB"), ("dataset", "DATASET"))


def iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


# -- runs ---------------------------------------------------------------------------------------
def _run(row: RunRow, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    nominal = (row.facets or {}).get("nominalTime") or {}
    duration = None
    if row.started_at is not None and row.ended_at is not None:
        duration = round((row.ended_at - row.started_at) * 1000)
    return {
        "id": row.run_id, "createdAt": iso(row.created_at), "updatedAt": iso(row.updated_at),
        "nominalStartTime": nominal.get("nominalStartTime"), "nominalEndTime": nominal.get("nominalEndTime"),
        "state": row.state, "startedAt": iso(row.started_at), "endedAt": iso(row.ended_at), "durationMs": duration,
        "args": {k: v for k, v in (("nominal_start_time", nominal.get("nominalStartTime")),
                                   ("nominal_end_time", nominal.get("nominalEndTime"))) if v},
        "jobVersion": {"namespace": row.job_namespace, "name": row.job_name, "version": None},
        "inputDatasetVersions": [], "outputDatasetVersions": outputs, "facets": row.facets or {},
    }


def runs_by_id(r: LineageReader, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Runs in Marquez's shape, with the dataset versions each one wrote."""
    if not run_ids:
        return {}
    outputs: dict[str, list[dict[str, Any]]] = {}
    rows = r.runs(run_ids)
    for v in r.versions_written(run_ids):
        outputs.setdefault(v.run_id, []).append(
            {"datasetVersionId": {"namespace": v.namespace, "name": v.name, "version": v.version}, "facets": {}})
    return {row.run_id: _run(row, outputs.get(row.run_id, [])) for row in rows}


def get_run(store: Store, run_id: str) -> dict[str, Any] | None:
    with read_lineage(store) as r:
        return runs_by_id(r, [run_id]).get(run_id)


def job_runs(store: Store, namespace: str, name: str, limit: int, offset: int) -> dict[str, Any]:
    with read_lineage(store) as r:
        page = r.job_runs(namespace, name, limit, offset)
        found = runs_by_id(r, page.items)
    return {"runs": [found[i] for i in page.items if i in found], "totalCount": page.total}


def run_facets(store: Store, run_id: str, kind: str) -> dict[str, Any] | None:
    """Facets merged over a run's events (``kind`` = ``run`` or ``job``), as Marquez's facets call."""
    with read_lineage(store) as r:
        payloads = r.run_event_payloads(run_id)
    if not payloads:
        return None
    facets: dict[str, Any] = {}
    for p in payloads:
        facets = merge_facets(facets, (p.get(kind) or {}).get("facets"))
    return {"runId": run_id, "facets": facets}


# -- jobs ---------------------------------------------------------------------------------------
def jobs_by_key(r: LineageReader, keys: list[Key], full: bool = True) -> dict[Key, dict[str, Any]]:
    """Jobs in Marquez's shape (``full=False``: the lineage graph's JobData, without facets)."""
    rows = r.jobs(keys)
    io: dict[Key, dict[str, list[dict[str, str]]]] = {}
    for e in r.edges(keys, of="job"):
        side = io.setdefault((e.job_namespace, e.job_name), {"in": [], "out": []})[e.direction]
        side.append({"namespace": e.dataset_namespace, "name": e.dataset_name})
    latest = runs_by_id(r, [row.latest_run_id for row in rows if row.latest_run_id])
    out: dict[Key, dict[str, Any]] = {}
    for row in rows:
        facets = row.facets or {}
        prefix = f"{row.parent_name}." if row.parent_name else None
        simple = row.name[len(prefix):] if prefix and row.name.startswith(prefix) else row.name
        run = latest.get(row.latest_run_id) if row.latest_run_id else None
        job: dict[str, Any] = {
            "id": {"namespace": row.namespace, "name": row.name}, "type": row.type, "name": row.name,
            "simpleName": simple, "parentJobName": row.parent_name, "parentJobUuid": None,
            "createdAt": iso(row.created_at), "updatedAt": iso(row.updated_at), "namespace": row.namespace,
            "inputs": _sorted(io.get((row.namespace, row.name), {}).get("in", [])),
            "outputs": _sorted(io.get((row.namespace, row.name), {}).get("out", [])),
            "location": (facets.get("sourceCodeLocation") or {}).get("url"),
            "description": (facets.get("documentation") or {}).get("description"),
            "latestRun": run, "currentVersion": None, "tags": [], "labels": [],
        }
        if full:
            job["latestRuns"] = [run] if run else []
            job["facets"] = facets
        out[(row.namespace, row.name)] = job
    return out


def _sorted(refs: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(refs, key=lambda d: (d["namespace"], d["name"]))


def list_jobs(store: Store, namespace: str | None, limit: int, offset: int,
              states: list[str] | None = None) -> dict[str, Any]:
    with read_lineage(store) as r:
        page = r.job_keys(namespace, states, limit, offset)
        found = jobs_by_key(r, page.items)
    return {"jobs": [found[k] for k in page.items if k in found], "totalCount": page.total}


def get_job(store: Store, namespace: str, name: str) -> dict[str, Any] | None:
    with read_lineage(store) as r:
        return jobs_by_key(r, [(namespace, name)]).get((namespace, name))


# -- datasets -----------------------------------------------------------------------------------
def _fields(facets: dict[str, Any]) -> list[dict[str, Any]]:
    schema = facets.get("schema") or {}
    return [{"name": f.get("name"), "type": f.get("type"), "tags": [], "description": f.get("description")}
            for f in schema.get("fields", []) if isinstance(f, dict)]


def _dataset(ns: str, name: str, facets: dict[str, Any], created: float, updated: float,
             version: str | None) -> dict[str, Any]:
    return {
        "id": {"namespace": ns, "name": name}, "type": "DB_TABLE", "name": name, "physicalName": name,
        "createdAt": iso(created), "updatedAt": iso(updated), "namespace": ns,
        "sourceName": (facets.get("dataSource") or {}).get("name") or "default", "fields": _fields(facets),
        "tags": [], "lastModifiedAt": iso(updated),
        "lastLifecycleState": (facets.get("lifecycleStateChange") or {}).get("lifecycleStateChange"),
        "description": (facets.get("documentation") or {}).get("description"), "currentVersion": version,
    }


def datasets_by_key(r: LineageReader, keys: list[Key], full: bool = True) -> dict[Key, dict[str, Any]]:
    out: dict[Key, dict[str, Any]] = {}
    for row in r.datasets(keys):
        ds = _dataset(row.namespace, row.name, row.facets or {}, row.created_at, row.updated_at, row.current_version)
        if full:
            ds.update(columnLineage=None, facets=row.facets or {}, deleted=False)
        out[(row.namespace, row.name)] = ds
    return out


def list_datasets(store: Store, namespace: str, limit: int, offset: int) -> dict[str, Any]:
    with read_lineage(store) as r:
        page = r.dataset_keys(namespace, limit, offset)
        found = datasets_by_key(r, page.items)
    return {"datasets": [found[k] for k in page.items if k in found], "totalCount": page.total}


def get_dataset(store: Store, namespace: str, name: str) -> dict[str, Any] | None:
    with read_lineage(store) as r:
        return datasets_by_key(r, [(namespace, name)]).get((namespace, name))


def dataset_versions(store: Store, namespace: str, name: str, limit: int, offset: int) -> dict[str, Any]:
    with read_lineage(store) as r:
        page = r.dataset_versions(namespace, name, limit, offset)
        runs = runs_by_id(r, [v.run_id for v in page.items if v.run_id])
    versions = []
    for row in page.items:
        v = _dataset(namespace, name, row.facets or {}, row.created_at, row.created_at, row.version)
        v.update(version=row.version, createdByRun=runs.get(row.run_id) if row.run_id else None,
                 lifecycleState=v["lastLifecycleState"], facets=row.facets or {}, columnLineage=None)
        versions.append(v)
    return {"versions": versions, "totalCount": page.total}


# -- namespaces and search ----------------------------------------------------------------------
def namespaces(store: Store, limit: int, offset: int, name: str | None = None) -> dict[str, Any]:
    """Every namespace a job or dataset lives in (or just ``name``, if it is one)."""
    with read_lineage(store) as r:
        rows = r.namespaces(limit, offset, name)
    return {"namespaces": [{"name": ns.name, "createdAt": iso(ns.created_at), "updatedAt": iso(ns.updated_at),
                            "ownerName": "anonymous", "description": None, "isHidden": False} for ns in rows]}


def search(store: Store, q: str, kind: str | None, sort: str, limit: int, namespace: str | None) -> dict[str, Any]:
    """Jobs and datasets whose name contains ``q`` (case-insensitive), as Marquez's search."""
    results: list[dict[str, Any]] = []
    by_update = sort == "UPDATE_AT"
    with read_lineage(store) as r:
        for of, node in _SEARCHED:
            if kind and kind != node:
                continue
            for hit in r.search(of, q, by_update, limit, namespace):
                results.append({"type": node, "name": hit.name, "namespace": hit.namespace,
                                "nodeId": f"{node.lower()}:{hit.namespace}:{hit.name}",
                                "updatedAt": iso(hit.updated_at)})
    results.sort(key=(lambda h: h["updatedAt"] or "") if by_update else (lambda h: h["name"]), reverse=by_update)
    return {"totalCount": len(results[:limit]), "results": results[:limit]}
