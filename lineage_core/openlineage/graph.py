"""The job <-> dataset lineage graph over ingested events, and Marquez's ``nodeId`` format.

Traversal is breadth-first with one batched, indexed query per hop and direction (edges are stored
both ways round: by job and by dataset), bounded by ``depth`` — not a recursive CTE over the whole
history, which is what makes Marquez's lineage call take seconds on large graphs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import ConfigError
from ..store import schema as t

if TYPE_CHECKING:
    from ..store import Store

_PREFIX = re.compile(r"^(dataset|job):(.+)$")
_SPLIT = re.compile(r":(?!//|\d)")  # Marquez's rule: keep `s3://...` and `host:5432` whole
_BATCH = 400


@dataclass(frozen=True, order=True)
class NodeId:
    type: str  # "job" | "dataset"
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.type}:{self.namespace}:{self.name}"


def parse_node_id(text: str) -> NodeId:
    """``job:<ns>:<name>`` or ``dataset:<ns>:<name>`` (an optional ``#<version>`` is ignored)."""
    m = _PREFIX.match(text.strip())
    if not m:
        raise ConfigError(f"nodeId {text!r} must start with 'job:' or 'dataset:'")
    rest = m.group(2)
    head, sep, tail = rest.rpartition("#")
    if sep and re.fullmatch(r"[0-9a-fA-F-]{36}", tail):
        rest = head
    parts = _SPLIT.split(rest)
    if len(parts) == 2 and all(parts):
        return NodeId(m.group(1), parts[0], parts[1])
    colon = rest.find(":")  # plain ns:name where the name itself has colons followed by // or digits
    if len(parts) < 2 and colon > 0:
        return NodeId(m.group(1), rest[:colon], rest[colon + 1 :])
    raise ConfigError(f"nodeId {text!r} is ambiguous: a namespace or name contains ':'")


def lineage(store: Store, start: NodeId, depth: int = 20, direction: str = "both") -> dict[str, Any]:
    """Marquez-shaped ``{"graph": [node, ...]}``: every node reachable within ``depth`` hops."""
    if direction not in ("both", "upstream", "downstream"):
        raise ConfigError(f"direction {direction!r} must be both, upstream or downstream")
    ec = t.ol_edges.c
    nodes: set[NodeId] = {start}
    edges: set[tuple[NodeId, NodeId]] = set()
    frontier = {start}
    with store.engine.connect() as c:
        for _ in range(max(depth, 0)):
            jobs = [(n.namespace, n.name) for n in frontier if n.type == "job"]
            datasets = [(n.namespace, n.name) for n in frontier if n.type == "dataset"]
            found: set[NodeId] = set()
            for keys, by_job in ((jobs, True), (datasets, False)):
                for i in range(0, len(keys), _BATCH):
                    chunk = keys[i : i + _BATCH]
                    cols = (ec.job_namespace, ec.job_name) if by_job else (ec.dataset_namespace, ec.dataset_name)
                    q = sa.select(ec.job_namespace, ec.job_name, ec.dataset_namespace, ec.dataset_name, ec.direction)
                    for jns, jn, dns, dn, way in c.execute(q.where(_pairs(cols, chunk))):
                        job, ds = NodeId("job", jns, jn), NodeId("dataset", dns, dn)
                        origin, dest = (ds, job) if way == "in" else (job, ds)
                        here = job if by_job else ds
                        if direction == "upstream" and dest != here:
                            continue
                        if direction == "downstream" and origin != here:
                            continue
                        edges.add((origin, dest))
                        other = ds if by_job else job
                        if other not in nodes:
                            found.add(other)
            nodes |= found
            frontier = found
            if not frontier:
                break
        data = _node_data(c, nodes)
    graph = []
    for n in sorted(nodes):
        graph.append({
            "id": str(n), "type": n.type.upper(), "data": data.get(n, {"namespace": n.namespace, "name": n.name}),
            "inEdges": [{"origin": str(o), "destination": str(d)} for o, d in sorted(edges) if d == n],
            "outEdges": [{"origin": str(o), "destination": str(d)} for o, d in sorted(edges) if o == n],
        })
    return {"graph": graph}


def _pairs(cols: tuple[Any, Any], keys: list[tuple[str, str]]) -> Any:
    """``(a, b) IN (...)`` spelled portably: an OR of equalities (uses the composite key index)."""
    return sa.or_(*[sa.and_(cols[0] == x, cols[1] == y) for x, y in keys])


def _node_data(c: sa.Connection, nodes: set[NodeId]) -> dict[NodeId, dict[str, Any]]:
    out: dict[NodeId, dict[str, Any]] = {}
    jc, dc = t.ol_jobs.c, t.ol_datasets.c
    jobs = [(n.namespace, n.name) for n in nodes if n.type == "job"]
    datasets = [(n.namespace, n.name) for n in nodes if n.type == "dataset"]
    for i in range(0, len(jobs), _BATCH):
        q = sa.select(jc.namespace, jc.name, jc.type, jc.parent_name, jc.latest_run_id)
        for ns, name, kind, parent, latest in c.execute(q.where(_pairs((jc.namespace, jc.name), jobs[i : i + _BATCH]))):
            out[NodeId("job", ns, name)] = {"id": {"namespace": ns, "name": name}, "namespace": ns, "name": name,
                                            "type": kind, "parentJobName": parent, "latestRunId": latest}
    for i in range(0, len(datasets), _BATCH):
        q = sa.select(dc.namespace, dc.name, dc.facets, dc.current_version)
        rows: Any = c.execute(q.where(_pairs((dc.namespace, dc.name), datasets[i : i + _BATCH])))
        for ns, name, facets, version in rows:
            schema = (facets or {}).get("schema") or {}
            fields: list[dict[str, Any]] = [
                {"name": f.get("name"), "type": f.get("type"), "tags": [], "description": f.get("description")}
                for f in schema.get("fields", []) if isinstance(f, dict)
            ]
            out[NodeId("dataset", ns, name)] = {"id": {"namespace": ns, "name": name}, "namespace": ns, "name": name,
                                                "type": "DB_TABLE", "fields": fields, "currentVersion": version}
    return out
