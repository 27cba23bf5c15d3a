"""Marquez's read model over the ingested lineage tables: the JSON shapes its web UI renders.

Namespaces, jobs (their latest runs, the datasets of their current version, their latest run's facets), runs
(with the dataset versions each read and wrote, its job version and Marquez's ``args``), datasets (fields and
facets of the current version, column lineage), dataset versions and search — the same field names, list
envelopes (``{<plural>: [...], totalCount}``; namespaces without a count) and semantics as Marquez 0.51, all
times as its ``Instant`` prints them. Every list is paged in SQL and every related row is fetched in one keyed
statement, so a page costs a fixed handful of statements whatever the size of the store or of the page.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from ..store.ol_read import DatasetRow, EdgeRow, Key, LineageReader, RunRow, read_lineage
from . import column_lineage
from .derive import merge_facets
from .versions import instant, name_uuid, parse_time, schema_version, zoned_string

if TYPE_CHECKING:
    from ..store import Store

_SEARCHED: tuple[tuple[Literal["job", "dataset"], str], ...] = (("job", "JOB"), ("dataset", "DATASET"))
DEFAULT_NAMESPACE = "default"
_DEFAULT_DESCRIPTION = ("The default global namespace for dataset, job, and run metadata not belonging to a "
                        "user-specified namespace.")
iso = instant  # every time in Marquez's JSON is an Instant


def _facet(facets: Any, name: str) -> dict[str, Any]:
    found = facets.get(name) if isinstance(facets, dict) else None
    return found if isinstance(found, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# -- runs ---------------------------------------------------------------------------------------
def _args(facets: dict[str, Any]) -> dict[str, str]:
    """Marquez's run args: the nominal times (as ``ZonedDateTime.toString()``) and the parent run."""
    args: dict[str, str] = {}
    nominal = _facet(facets, "nominalTime")
    for key, field in (("nominal_start_time", "nominalStartTime"), ("nominal_end_time", "nominalEndTime")):
        when = parse_time(nominal.get(field))
        if when is not None:
            args[key] = zoned_string(when)
    parent = _facet(facets, "parent")
    run, job = _facet(parent, "run"), _facet(parent, "job")
    if _text(run.get("runId")) and _text(job.get("name")) and _text(job.get("namespace")):
        args.update(run_id=run["runId"], name=job["name"], namespace=job["namespace"])
    return args


def _millis_until(start: float, end: float) -> int:
    """Java's ``Instant.until(end, MILLIS)`` on times stored to the microsecond: ``end.toEpochMilli() -
    start.toEpochMilli()``, each time floored to its millisecond first (so 7.9 ms can read 8), as Marquez's is."""
    return round(end * 1e6) // 1000 - round(start * 1e6) // 1000


def _run(row: RunRow, versions: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    facets = row.facets or {}
    duration = None
    if row.started_at is not None and row.ended_at is not None:
        duration = _millis_until(row.started_at, row.ended_at)
    job_version = None if row.job_version is None else {
        "namespace": row.job_namespace, "name": row.job_name, "version": row.job_version}
    # nominal times: a run's own are in its args only (Marquez's ingest never sets them), but a parent run made
    # from a child's event has the child's
    return {
        "id": row.run_id, "createdAt": iso(row.created_at), "updatedAt": iso(row.updated_at),
        "nominalStartTime": iso(row.nominal_start_time), "nominalEndTime": iso(row.nominal_end_time),
        "state": row.state or "NEW", "startedAt": iso(row.started_at), "endedAt": iso(row.ended_at),
        "durationMs": duration, "args": _args(facets), "jobVersion": job_version,
        "inputDatasetVersions": versions.get(f"in:{row.run_id}", []),
        "outputDatasetVersions": versions.get(f"out:{row.run_id}", []), "facets": facets,
    }


def runs_by_id(r: LineageReader, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Runs in Marquez's shape, with the dataset versions each read and wrote (two statements)."""
    if not run_ids:
        return {}
    versions: dict[str, list[dict[str, Any]]] = {}
    for v in r.run_versions(run_ids):
        versions.setdefault(f"{v.direction}:{v.run_id}", []).append(
            {"datasetVersionId": {"namespace": v.namespace, "name": v.name, "version": v.version},
             "facets": v.facets or {}})
    return {row.run_id: _run(row, versions) for row in r.runs(run_ids)}


def get_run(store: Store, run_id: str) -> dict[str, Any] | None:
    with read_lineage(store) as r:
        return runs_by_id(r, [run_id]).get(run_id)


def job_runs(store: Store, namespace: str, name: str, limit: int, offset: int) -> dict[str, Any]:
    with read_lineage(store) as r:
        page = r.job_runs(namespace, name, limit, offset)
        found = runs_by_id(r, page.items)
    return {"runs": [found[i] for i in page.items if i in found], "totalCount": page.total}


def run_facets(store: Store, run_id: str, kind: str) -> tuple[bool, dict[str, Any] | None]:
    """(whether the run exists, its facets merged over its events: ``kind`` = ``run`` or ``job``), as Marquez's
    facets call answers them — nothing (``None``) for a run whose events carried no such facet."""
    with read_lineage(store) as r:
        if not r.runs([run_id]):
            return False, None
        payloads = r.run_event_payloads(run_id)
    facets: dict[str, Any] = {}
    for p in payloads:
        facets = merge_facets(facets, (p.get(kind) or {}).get("facets"))
    return True, ({"runId": run_id, "facets": facets} if facets else None)


# -- jobs ---------------------------------------------------------------------------------------
def _refs(refs: set[Key]) -> list[dict[str, str]]:
    return [{"namespace": ns, "name": name} for ns, name in sorted(refs)]


def _job_uuid(namespace: str | None, name: str | None) -> str | None:
    """A job's UUID (we keep none: name-based, so a parent's reads the same wherever it is named)."""
    return None if namespace is None or name is None else name_uuid(f"job:{namespace}:{name}".encode())


def _labels(facets: dict[str, Any]) -> list[str]:
    """Marquez's job labels: the ``jobType`` facet's ``jobType`` and ``integration`` (``["DAG", "AIRFLOW"]``)."""
    job_type = _facet(facets, "jobType")
    return [str(job_type[k]) for k in ("jobType", "integration") if job_type.get(k) is not None]


def jobs_by_key(r: LineageReader, keys: list[Key], full: bool = True,
                edges: list[EdgeRow] | None = None) -> dict[Key, dict[str, Any]]:
    """Jobs in Marquez's shape (``full=False``: the lineage graph's JobData, whose ``latestRun`` is the job's
    current run — a child job's is its parent's — without latest runs, facets, version, labels or tags).
    ``edges``: the jobs' current edges, when the caller has them already."""
    rows = r.jobs(keys)
    io: dict[Key, dict[str, set[Key]]] = {}
    if edges is None:
        edges = r.edges([(row.namespace, row.name) for row in rows], of="job")
    for e in edges:
        io.setdefault((e.job_namespace, e.job_name), {"in": set(), "out": set()})[e.direction].add(
            (e.dataset_namespace, e.dataset_name))
    latest = r.latest_runs([(row.namespace, row.name) for row in rows]) if full else {}
    wanted = {i for ids in latest.values() for i in ids} if full else {row.current_run_id for row in rows}
    runs = runs_by_id(r, sorted(i for i in wanted if i))
    out: dict[Key, dict[str, Any]] = {}
    for row in rows:
        key, facets = (row.namespace, row.name), row.facets or {}
        prefix = f"{row.parent_name}." if row.parent_name else None
        simple = row.name[len(prefix):] if prefix and row.name.startswith(prefix) else row.name
        recent = [runs[i] for i in latest.get(key, []) if i in runs]
        sides = io.get(key)
        if sides is None and recent:  # no version yet: what its latest run read and wrote
            sides = {d: {(v["datasetVersionId"]["namespace"], v["datasetVersionId"]["name"])
                         for v in recent[0][f"{w}DatasetVersions"]} for d, w in (("in", "input"), ("out", "output"))}
        sides = sides or {"in": set(), "out": set()}
        if full:  # Marquez's job lists a dataset's other names beside it (its graph's JobData does not)
            sides = {d: with_symlinks(r, refs) for d, refs in sides.items()}
        job: dict[str, Any] = {
            "id": {"namespace": row.namespace, "name": row.name}, "type": row.type, "name": row.name,
            "simpleName": simple, "parentJobName": row.parent_name, "parentJobUuid": _job_uuid(
                row.parent_namespace, row.parent_name),
            "createdAt": iso(row.created_at), "updatedAt": iso(row.updated_at), "namespace": row.namespace,
            "inputs": _refs(sides["in"]), "outputs": _refs(sides["out"]),
            "location": (row.made_location or None) if row.made_location is not None else _text(
                _facet(facets, "sourceCodeLocation").get("url")),
            "description": _text(_facet(facets, "documentation").get("description")),
        }
        if full:  # latestRuns: null when there is none, as Marquez leaves it
            job.update(latestRun=recent[0] if recent else None, latestRuns=recent or None, facets=facets,
                       currentVersion=row.current_version, labels=_labels(facets), tags=[])
        else:
            job["currentRunUuid"] = row.current_run_id
            job["latestRun"] = runs.get(row.current_run_id) if row.current_run_id else None
        out[key] = job
    return out


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
def _fields(fields: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [{"name": f["name"], "type": f.get("type"), "tags": [], "description": f.get("description")}
            for f in fields or []]


def _dataset(ns: str, name: str, facets: dict[str, Any] | None, fields: list[dict[str, Any]] | None,
             created: float, updated: float) -> dict[str, Any]:
    """What a Dataset, a DatasetData and a DatasetVersion share; ``facets`` and ``fields``: its (current)
    version's."""
    return {
        "id": {"namespace": ns, "name": name}, "type": "DB_TABLE", "name": name, "physicalName": name,
        "createdAt": iso(created), "updatedAt": iso(updated), "namespace": ns,
        "sourceName": _text(_facet(facets, "dataSource").get("name")) or "default", "fields": _fields(fields),
        "tags": [], "description": _text(_facet(facets, "documentation").get("description")),
    }


def _lifecycle(facets: dict[str, Any] | None) -> str | None:
    """A version's lifecycle state: the facet's, or ``""`` as Marquez stores none; None without a version."""
    if facets is None:
        return None
    return _text(_facet(facets, "lifecycleStateChange").get("lifecycleStateChange")) or ""


def _current(row: DatasetRow, full: bool) -> dict[str, Any]:
    """A Dataset (``full``: its fields every field of the current version) or a DatasetData (the fields of the
    event that made it, as Marquez's graph shows them)."""
    fields = row.version_fields if full else row.version_first_fields
    ds = _dataset(row.namespace, row.name, row.version_facets, fields, row.created_at, row.updated_at)
    ds.update(sourceName=row.source_name or "default", lastModifiedAt=None,  # Marquez's ingest never sets it
              lastLifecycleState=_lifecycle(row.version_facets))
    return ds


def datasets_by_key(r: LineageReader, keys: list[Key], full: bool = True,
                    listed: bool = False) -> dict[Key, dict[str, Any]]:
    """Datasets in Marquez's shape (``full=False``: the lineage graph's DatasetData). A key that is another name
    a ``symlinks`` facet gave a dataset is that dataset under that name, as Marquez's ``datasets_view`` shows it:
    its physical name the dataset's, no column lineage, and its facets only where ``listed`` (a namespace's list;
    Marquez reads a dataset's facets by its own name, so the other name's page has none)."""
    rows = r.datasets(keys, every_field=full)
    found = {(row.namespace, row.name) for row in rows}
    links = r.symlinks([k for k in keys if k not in found]) if full else []
    targets = {(s.target_namespace, s.target_name): s for s in links}
    rows += [row for row in r.datasets(sorted(targets)) if (row.namespace, row.name) not in found]
    columns = column_lineage.of_datasets(r, sorted(found)) if full else {}
    out: dict[Key, dict[str, Any]] = {}
    for row in rows:
        ds = _current(row, full)
        if full:
            ds.update(currentVersion=row.current_version, columnLineage=columns.get((row.namespace, row.name)),
                      facets=row.version_facets or {}, deleted=ds["lastLifecycleState"] == "DROP")
        if (row.namespace, row.name) in found:
            out[(row.namespace, row.name)] = ds
    by_target = {(row.namespace, row.name): row for row in rows}
    for link in links:
        target = by_target.get((link.target_namespace, link.target_name))
        if target is None:
            continue
        ds = _current(target, full)
        ds.update(id={"namespace": link.namespace, "name": link.name}, name=link.name, namespace=link.namespace,
                  currentVersion=target.current_version, columnLineage=None,
                  facets=(target.version_facets or {}) if listed else {}, deleted=ds["lastLifecycleState"] == "DROP")
        out[(link.namespace, link.name)] = ds
    return out


def with_symlinks(r: LineageReader, refs: set[Key]) -> set[Key]:
    """Datasets and the other names ``symlinks`` facets gave them, as Marquez lists a job's inputs and outputs."""
    return refs | {(s.namespace, s.name) for s in r.symlinks(sorted(refs), to=True)} if refs else refs


def list_datasets(store: Store, namespace: str, limit: int, offset: int) -> dict[str, Any]:
    with read_lineage(store) as r:
        page = r.dataset_keys(namespace, limit, offset)
        found = datasets_by_key(r, page.items, listed=True)
    return {"datasets": [found[k] for k in page.items if k in found], "totalCount": page.total}


def get_dataset(store: Store, namespace: str, name: str) -> dict[str, Any] | None:
    with read_lineage(store) as r:
        return datasets_by_key(r, [(namespace, name)]).get((namespace, name))


def dataset_versions(store: Store, namespace: str, name: str, limit: int, offset: int) -> dict[str, Any]:
    with read_lineage(store) as r:
        page = r.dataset_versions(namespace, name, limit, offset)
        runs = runs_by_id(r, sorted({v.run_id for v in page.items if v.run_id}))
        source = next((d.source_name for d in r.datasets([(namespace, name)])), None) or "default"
    versions = []
    for row in page.items:  # as Marquez: a version's fields are those of the event that made it
        v = _dataset(namespace, name, row.facets or {}, row.first_fields, row.created_at, row.created_at)
        del v["updatedAt"]
        v.update(sourceName=source, version=row.version, lifecycleState=_lifecycle(row.facets or {}),
                 currentSchemaVersion=schema_version(namespace, name, row.first_fields),
                 createdByRun=runs.get(row.run_id) if row.run_id else None, facets=row.facets or {})
        versions.append(v)
    return {"versions": versions, "totalCount": page.total}


# -- namespaces and search ----------------------------------------------------------------------
def _namespace(name: str, created: float, updated: float) -> dict[str, Any]:
    """A namespace; as Marquez's ingest writes them, it is never updated once made (``updatedAt`` = ``createdAt``)."""
    return {"name": name, "createdAt": iso(created), "updatedAt": iso(created), "ownerName": "anonymous",
            "description": _DEFAULT_DESCRIPTION if name == DEFAULT_NAMESPACE else None, "isHidden": False}


def namespaces(store: Store, limit: int, offset: int, name: str | None = None) -> dict[str, Any]:
    """Every namespace a job or dataset lives in, and ``default``, which Marquez always has (or just ``name``)."""
    with read_lineage(store) as r:
        if name is not None or r.namespaces(1, 0, DEFAULT_NAMESPACE):
            rows = [_namespace(*ns) for ns in r.namespaces(limit, offset, name)]
            if name == DEFAULT_NAMESPACE and not rows:
                rows = [_default(r)]
            return {"namespaces": rows}
        at = r.namespaces_before(DEFAULT_NAMESPACE)  # where ``default`` sorts among the others
        if offset + limit <= at or offset > at:
            return {"namespaces": [_namespace(*ns) for ns in r.namespaces(limit, offset - (offset > at), None)]}
        rows = [_namespace(*ns) for ns in r.namespaces(limit - 1, offset, None)]
        rows.insert(at - offset, _default(r))
    return {"namespaces": rows}


def _default(r: LineageReader) -> dict[str, Any]:
    """``default`` with nothing in it: as old as the store's lineage (now, in an empty store)."""
    first = r.first_change()
    when = first if first is not None else time.time()
    return _namespace(DEFAULT_NAMESPACE, when, when)


def search(store: Store, q: str, kind: str | None, sort: str, limit: int, namespace: str | None) -> dict[str, Any]:
    """Jobs and datasets whose name matches ``%q%`` (case-insensitive; ``%`` and ``_`` are wildcards), as
    Marquez's search."""
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
