"""The job <-> dataset lineage graph over ingested events, and Marquez's ``nodeId`` format.

Traversal is breadth-first with one batched, indexed query per hop and direction (edges are stored
both ways round: by job and by dataset), bounded by ``depth`` — not a recursive CTE over the whole
history, which is what makes Marquez's lineage call take seconds on large graphs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..store.ol_read import LineageReader, read_lineage
from .views import datasets_by_key, jobs_by_key

if TYPE_CHECKING:
    from ..store import Store

_PREFIX = re.compile(r"^(dataset|job):(.+)$")
_SPLIT = re.compile(r":(?!//|\d)")  # Marquez's rule: keep `s3://...` and `host:5432` whole


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
    nodes: set[NodeId] = {start}
    edges: set[tuple[NodeId, NodeId]] = set()
    frontier = {start}
    with read_lineage(store) as r:
        for _ in range(max(depth, 0)):
            jobs = [(n.namespace, n.name) for n in frontier if n.type == "job"]
            datasets = [(n.namespace, n.name) for n in frontier if n.type == "dataset"]
            found: set[NodeId] = set()
            for keys, by_job in ((jobs, True), (datasets, False)):
                for e in r.edges(keys, of="job" if by_job else "dataset"):
                    job = NodeId("job", e.job_namespace, e.job_name)
                    ds = NodeId("dataset", e.dataset_namespace, e.dataset_name)
                    origin, dest = (ds, job) if e.direction == "in" else (job, ds)
                    here, other = (job, ds) if by_job else (ds, job)
                    if direction == "upstream" and dest != here:
                        continue
                    if direction == "downstream" and origin != here:
                        continue
                    edges.add((origin, dest))
                    if other not in nodes:
                        found.add(other)
            nodes |= found
            frontier = found
            if not frontier:
                break
        data = _node_data(r, nodes)
    graph = []
    for n in sorted(nodes):
        graph.append({
            "id": str(n), "type": n.type.upper(), "data": data.get(n, {"namespace": n.namespace, "name": n.name}),
            "inEdges": [{"origin": str(o), "destination": str(d)} for o, d in sorted(edges) if d == n],
            "outEdges": [{"origin": str(o), "destination": str(d)} for o, d in sorted(edges) if o == n],
        })
    return {"graph": graph}


def _node_data(r: LineageReader, nodes: set[NodeId]) -> dict[NodeId, dict[str, Any]]:
    """Marquez's JobData / DatasetData for every node, in batched queries."""
    jobs = jobs_by_key(r, [(n.namespace, n.name) for n in nodes if n.type == "job"], full=False)
    datasets = datasets_by_key(r, [(n.namespace, n.name) for n in nodes if n.type == "dataset"], full=False)
    out: dict[NodeId, dict[str, Any]] = {NodeId("job", *k): v for k, v in jobs.items()}
    out.update({NodeId("dataset", *k): v for k, v in datasets.items()})
    return out
