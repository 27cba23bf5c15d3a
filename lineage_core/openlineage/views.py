"""Marquez's read model over the ingested lineage tables: the JSON shapes its web UI renders.

Namespaces, jobs (with their latest runs and the datasets they read and write), runs, run/job facets,
datasets (fields from the ``schema`` facet), dataset versions and search — the same field names and
list envelopes as Marquez 0.51 (``{<plural>: [...], totalCount}``; namespaces without a count), all
times ISO-8601 UTC. Every list is paged in SQL and every related row is fetched in one batched query,
so a page costs a fixed handful of statements whatever the size of the store.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..store import schema as t

if TYPE_CHECKING:
    from ..store import Store

Key = tuple[str, str]
_BATCH = 400


def iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def pairs(cols: tuple[Any, Any], keys: list[Key]) -> Any:
    """``(a, b) IN (...)`` spelled portably: an OR of equalities (uses the composite key index)."""
    return sa.or_(*[sa.and_(cols[0] == x, cols[1] == y) for x, y in keys])


def _batched(c: sa.Connection, query: sa.Select[Any], cols: tuple[Any, Any], keys: list[Key]) -> list[Any]:
    rows: list[Any] = []
    for i in range(0, len(keys), _BATCH):
        rows += c.execute(query.where(pairs(cols, keys[i : i + _BATCH]))).all()
    return rows


# -- runs ---------------------------------------------------------------------------------------
def _run(row: Any, outputs: list[dict[str, Any]]) -> dict[str, Any]:
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


def runs_by_id(c: sa.Connection, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Runs in Marquez's shape, with the dataset versions each one wrote."""
    if not run_ids:
        return {}
    rc, vc = t.ol_runs.c, t.ol_dataset_versions.c
    rows: list[Any] = []
    outputs: dict[str, list[dict[str, Any]]] = {}
    for i in range(0, len(run_ids), _BATCH):
        chunk = run_ids[i : i + _BATCH]
        rows += c.execute(sa.select(t.ol_runs).where(rc.run_id.in_(chunk))).all()
        for ns, name, version, run_id in c.execute(
            sa.select(vc.namespace, vc.name, vc.version, vc.run_id).where(vc.run_id.in_(chunk))
        ):
            outputs.setdefault(run_id, []).append(
                {"datasetVersionId": {"namespace": ns, "name": name, "version": version}, "facets": {}})
    return {r.run_id: _run(r, outputs.get(r.run_id, [])) for r in rows}


def job_runs(store: Store, namespace: str, name: str, limit: int, offset: int) -> dict[str, Any]:
    rc = t.ol_runs.c
    where = sa.and_(rc.job_namespace == namespace, rc.job_name == name)
    with store.engine.connect() as c:
        total = c.execute(sa.select(sa.func.count()).select_from(t.ol_runs).where(where)).scalar_one()
        ids = [r[0] for r in c.execute(sa.select(rc.run_id).where(where)
                                        .order_by(rc.created_at.desc(), rc.run_id).limit(limit).offset(offset))]
        found = runs_by_id(c, ids)
    return {"runs": [found[i] for i in ids if i in found], "totalCount": total}


def run_facets(store: Store, run_id: str, kind: str) -> dict[str, Any] | None:
    """Facets merged over a run's events (``kind`` = ``run`` or ``job``), as Marquez's facets call."""
    from .derive import merge_facets

    ec = t.ol_events.c
    with store.engine.connect() as c:
        payloads = [r[0] for r in c.execute(
            sa.select(ec.payload).where(ec.run_id == run_id).order_by(ec.event_time, ec.id))]
    if not payloads:
        return None
    facets: dict[str, Any] = {}
    for p in payloads:
        facets = merge_facets(facets, (p.get(kind) or {}).get("facets"))
    return {"runId": run_id, "facets": facets}


# -- jobs ---------------------------------------------------------------------------------------
def jobs_by_key(c: sa.Connection, keys: list[Key], full: bool = True) -> dict[Key, dict[str, Any]]:
    """Jobs in Marquez's shape (``full=False``: the lineage graph's JobData, without facets)."""
    jc, ec = t.ol_jobs.c, t.ol_edges.c
    rows = _batched(c, sa.select(t.ol_jobs), (jc.namespace, jc.name), keys)
    io: dict[Key, dict[str, list[dict[str, str]]]] = {}
    q = sa.select(ec.job_namespace, ec.job_name, ec.dataset_namespace, ec.dataset_name, ec.direction)
    for jns, jn, dns, dn, way in _batched(c, q, (ec.job_namespace, ec.job_name), keys):
        side = io.setdefault((jns, jn), {"in": [], "out": []})[way]
        side.append({"namespace": dns, "name": dn})
    latest = runs_by_id(c, [r.latest_run_id for r in rows if r.latest_run_id])
    out: dict[Key, dict[str, Any]] = {}
    for r in rows:
        facets = r.facets or {}
        prefix = f"{r.parent_name}." if r.parent_name else None
        simple = r.name[len(prefix):] if prefix and r.name.startswith(prefix) else r.name
        run = latest.get(r.latest_run_id) if r.latest_run_id else None
        job: dict[str, Any] = {
            "id": {"namespace": r.namespace, "name": r.name}, "type": r.type, "name": r.name, "simpleName": simple,
            "parentJobName": r.parent_name, "parentJobUuid": None,
            "createdAt": iso(r.created_at), "updatedAt": iso(r.updated_at), "namespace": r.namespace,
            "inputs": _sorted(io.get((r.namespace, r.name), {}).get("in", [])),
            "outputs": _sorted(io.get((r.namespace, r.name), {}).get("out", [])),
            "location": (facets.get("sourceCodeLocation") or {}).get("url"),
            "description": (facets.get("documentation") or {}).get("description"),
            "latestRun": run, "currentVersion": None, "tags": [], "labels": [],
        }
        if full:
            job["latestRuns"] = [run] if run else []
            job["facets"] = facets
        out[(r.namespace, r.name)] = job
    return out


def _sorted(refs: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(refs, key=lambda d: (d["namespace"], d["name"]))


def list_jobs(store: Store, namespace: str | None, limit: int, offset: int,
              states: list[str] | None = None) -> dict[str, Any]:
    jc, rc = t.ol_jobs.c, t.ol_runs.c
    where = sa.true() if namespace is None else jc.namespace == namespace
    if states:
        latest = sa.select(rc.run_id).where(rc.run_id == jc.latest_run_id, rc.state.in_(states))
        where = sa.and_(where, latest.exists())
    with store.engine.connect() as c:
        total = c.execute(sa.select(sa.func.count()).select_from(t.ol_jobs).where(where)).scalar_one()
        keys = [(r[0], r[1]) for r in c.execute(
            sa.select(jc.namespace, jc.name).where(where).order_by(jc.namespace, jc.name).limit(limit).offset(offset))]
        found = jobs_by_key(c, keys)
    return {"jobs": [found[k] for k in keys if k in found], "totalCount": total}


def get_job(store: Store, namespace: str, name: str) -> dict[str, Any] | None:
    with store.engine.connect() as c:
        return jobs_by_key(c, [(namespace, name)]).get((namespace, name))


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


def datasets_by_key(c: sa.Connection, keys: list[Key], full: bool = True) -> dict[Key, dict[str, Any]]:
    dc = t.ol_datasets.c
    out: dict[Key, dict[str, Any]] = {}
    for r in _batched(c, sa.select(t.ol_datasets), (dc.namespace, dc.name), keys):
        ds = _dataset(r.namespace, r.name, r.facets or {}, r.created_at, r.updated_at, r.current_version)
        if full:
            ds.update(columnLineage=None, facets=r.facets or {}, deleted=False)
        out[(r.namespace, r.name)] = ds
    return out


def list_datasets(store: Store, namespace: str, limit: int, offset: int) -> dict[str, Any]:
    dc = t.ol_datasets.c
    with store.engine.connect() as c:
        total = c.execute(sa.select(sa.func.count()).select_from(t.ol_datasets)
                          .where(dc.namespace == namespace)).scalar_one()
        keys = [(r[0], r[1]) for r in c.execute(sa.select(dc.namespace, dc.name).where(dc.namespace == namespace)
                                                 .order_by(dc.name).limit(limit).offset(offset))]
        found = datasets_by_key(c, keys)
    return {"datasets": [found[k] for k in keys if k in found], "totalCount": total}


def get_dataset(store: Store, namespace: str, name: str) -> dict[str, Any] | None:
    with store.engine.connect() as c:
        return datasets_by_key(c, [(namespace, name)]).get((namespace, name))


def dataset_versions(store: Store, namespace: str, name: str, limit: int, offset: int) -> dict[str, Any]:
    vc = t.ol_dataset_versions.c
    where = sa.and_(vc.namespace == namespace, vc.name == name)
    with store.engine.connect() as c:
        total = c.execute(sa.select(sa.func.count()).select_from(t.ol_dataset_versions).where(where)).scalar_one()
        rows = c.execute(sa.select(t.ol_dataset_versions).where(where)
                         .order_by(vc.created_at.desc(), vc.version).limit(limit).offset(offset)).all()
        runs = runs_by_id(c, [r.run_id for r in rows if r.run_id])
    versions = []
    for r in rows:
        v = _dataset(namespace, name, r.facets or {}, r.created_at, r.created_at, r.version)
        v.update(version=r.version, createdByRun=runs.get(r.run_id) if r.run_id else None,
                 lifecycleState=v["lastLifecycleState"], facets=r.facets or {}, columnLineage=None)
        versions.append(v)
    return {"versions": versions, "totalCount": total}


# -- namespaces and search ----------------------------------------------------------------------
def namespaces(store: Store, limit: int, offset: int, name: str | None = None) -> dict[str, Any]:
    """Every namespace a job or dataset lives in (or just ``name``, if it is one)."""
    jc, dc = t.ol_jobs.c, t.ol_datasets.c
    jobs = sa.select(jc.namespace.label("ns"), jc.created_at.label("c"), jc.updated_at.label("u"))
    datasets = sa.select(dc.namespace, dc.created_at, dc.updated_at)
    if name is not None:
        jobs, datasets = jobs.where(jc.namespace == name), datasets.where(dc.namespace == name)
    both = sa.union_all(jobs, datasets).subquery()
    q = (sa.select(both.c.ns, sa.func.min(both.c.c), sa.func.max(both.c.u)).group_by(both.c.ns)
         .order_by(both.c.ns).limit(limit).offset(offset))
    with store.engine.connect() as c:
        rows = c.execute(q).all()
    return {"namespaces": [{"name": ns, "createdAt": iso(created), "updatedAt": iso(updated), "ownerName": "anonymous",
                            "description": None, "isHidden": False} for ns, created, updated in rows]}


def search(store: Store, q: str, kind: str | None, sort: str, limit: int, namespace: str | None) -> dict[str, Any]:
    """Jobs and datasets whose name contains ``q`` (case-insensitive), as Marquez's search."""
    results: list[dict[str, Any]] = []
    with store.engine.connect() as c:
        for table, node in ((t.ol_jobs, "JOB"), (t.ol_datasets, "DATASET")):
            if kind and kind != node:
                continue
            where: Any = table.c.name.ilike(f"%{_escape(q)}%", escape="\\")
            if namespace:
                where = sa.and_(where, table.c.namespace == namespace)
            order = table.c.updated_at.desc() if sort == "UPDATE_AT" else table.c.name
            for ns, name, updated in c.execute(sa.select(table.c.namespace, table.c.name, table.c.updated_at)
                                               .where(where).order_by(order).limit(limit)):
                results.append({"type": node, "name": name, "namespace": ns, "nodeId": f"{node.lower()}:{ns}:{name}",
                                "updatedAt": iso(updated)})
    results.sort(key=(lambda r: r["updatedAt"] or "") if sort == "UPDATE_AT" else (lambda r: r["name"]),
                 reverse=sort == "UPDATE_AT")
    return {"totalCount": len(results[:limit]), "results": results[:limit]}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
