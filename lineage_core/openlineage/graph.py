"""The job <-> dataset lineage graph over ingested events, with Marquez's semantics, and its ``nodeId`` format.

As Marquez 0.51 (``LineageDao.getLineage``, ``LineageService``): the graph is the jobs within ``depth`` job
hops of the start — a hop joins two jobs that share a dataset, read or written — with every dataset those
jobs read or write. Only each job's current version counts (its latest finished run's inputs and outputs),
so an edge a job stopped writing is gone. A dataset's graph is that of the job that last wrote it (else one
that read it), whether or not that job still does; when that graph does not hold the dataset, it is drawn
alone. A job's node shows its current run (a child job's is its parent's), as ``latestRun``.

Unlike Marquez's recursive query over every job version, each hop is one indexed statement over the current
edges (:mod:`lineage_core.store.ol_graph`), and the nodes' data a fixed handful more, so a query costs
``2 + depth`` statements or fewer whatever the graph's size; ``depth`` is capped at 100. ``direction``
(``upstream``/``downstream``, for ``lineage lineage``) follows only inputs' writers or outputs' readers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..store.ol_graph import GraphReader
from ..store.ol_read import EdgeRow, Key, LineageReader, read_lineage
from .views import datasets_by_key, jobs_by_key

if TYPE_CHECKING:
    from ..store import Store

_PREFIX = re.compile(r"^(dataset|job|datasetField|run):")
_MARQUEZ_NODE = re.compile(r"(dataset|datasetField|job|run):.*")  # Marquez's NodeId.ID_PATTERN
_SPLIT = re.compile(r":(?!//|\d)")  # Marquez's rule: keep `s3://...` and `host:5432` whole
_VERSION = re.compile(r"#[0-9a-fA-F-]{36}$")
MAX_DEPTH = 100


@dataclass(frozen=True, order=True)
class NodeId:
    type: str  # "job" | "dataset"
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.type}:{self.namespace}:{self.name}"


def node_parts(text: str, expected: int) -> list[str]:
    """Marquez's ``NodeId.parts``: split on ``:`` and ``#``; when that gives more parts than expected, split
    only on the colons not followed by ``//`` or a digit, the last part keeping the rest."""
    parts = re.split(r"[:#]", text)
    if len(parts) < expected:
        raise ConfigError(f"nodeId {text!r} has fewer than {expected} parts")
    if len(parts) == expected:
        return parts
    cuts = list(_SPLIT.finditer(text))
    if len(cuts) < expected - 1:
        raise ConfigError(f"nodeId {text!r} is ambiguous: a namespace or name contains ':'")
    out, prev = [], 0
    for cut in cuts[: expected - 1]:
        out.append(text[prev : cut.start()])
        prev = cut.end()
    return [*out, text[prev:]]


def is_node_id(text: str) -> bool:
    """Whether Marquez reads ``text`` as a NodeId at all (its ``ID_PATTERN``): one that is not is a query parameter
    JAX-RS cannot convert, which Marquez answers 404; one that is but cannot be split is the client's error (400
    here, Marquez's 500)."""
    return _MARQUEZ_NODE.fullmatch(text) is not None


def parse_node_id(text: str) -> NodeId:
    """``job:<ns>:<name>`` or ``dataset:<ns>:<name>`` (a trailing ``#<version>`` is ignored)."""
    text = text.strip()
    m = _PREFIX.match(text)
    if not m or m.group(1) not in ("job", "dataset"):
        raise ConfigError(f"nodeId {text!r} must start with 'job:' or 'dataset:'")
    kind, ns, name = node_parts(_VERSION.sub("", text), 3)
    if not ns or not name:
        raise ConfigError(f"nodeId {text!r} needs a namespace and a name")
    return NodeId(kind, ns, name)


def parse_field_node_id(text: str) -> tuple[Key, str | None, bool]:
    """A column-lineage ``nodeId``: ``dataset:<ns>:<name>`` or ``datasetField:<ns>:<dataset>:<field>``; returns
    (dataset, field or None, whether it named a version)."""
    text = text.strip()
    m = _PREFIX.match(text)
    if not m or m.group(1) not in ("dataset", "datasetField"):
        raise ConfigError(f"nodeId {text!r} must start with 'dataset:' or 'datasetField:'")
    versioned = "#" in text
    plain = _VERSION.sub("", text)
    if m.group(1) == "dataset":
        _, ns, name = node_parts(plain, 3)
        return (ns, name), None, versioned
    _, ns, name, field = node_parts(plain, 4)
    return (ns, name), field, versioned


def exists(store: Store, node: NodeId) -> bool:
    with read_lineage(store) as r:
        key = (node.namespace, node.name)
        found = r.jobs([key]) if node.type == "job" else r.datasets([key]) or r.symlinks([key])
    return bool(found)


def _named(r: LineageReader, node: NodeId) -> NodeId:
    """The dataset another name (a ``symlinks`` facet's) stands for, whose graph Marquez draws for it."""
    if node.type != "dataset":
        return node
    links = r.symlinks([(node.namespace, node.name)])
    return replace(node, namespace=links[0].target_namespace, name=links[0].target_name) if links else node


def lineage(store: Store, start: NodeId, depth: int = 20, direction: str = "both") -> dict[str, Any]:
    """Marquez-shaped ``{"graph": [node, ...]}``: the jobs within ``depth`` job hops and their datasets."""
    if direction not in ("both", "upstream", "downstream"):
        raise ConfigError(f"direction {direction!r} must be both, upstream or downstream")
    depth = max(0, min(depth, MAX_DEPTH))
    with read_lineage(store) as r:
        g = GraphReader(r)
        start = _named(r, start)
        if direction == "both":
            edges = _shared(g, start, depth)
            if start.type == "dataset" and not any(
                    (e.dataset_namespace, e.dataset_name) == (start.namespace, start.name) for e in edges):
                edges = set()  # as Marquez: that job's graph no longer holds it, so it is drawn alone
        else:
            edges = _directed(g, start, depth, upstream=direction == "upstream")
        return _graph(r, start, edges, complete=direction == "both")


def _shared(g: GraphReader, start: NodeId, depth: int) -> set[EdgeRow]:
    """Marquez's traversal: job hops through any shared dataset, both ways."""
    first = (start.namespace, start.name) if start.type == "job" else g.job_for_dataset((start.namespace, start.name))
    if first is None:
        return set()
    return {e for _, e in g.reach(first, depth)}


def _directed(g: GraphReader, start: NodeId, depth: int, upstream: bool) -> set[EdgeRow]:
    """Only what a node was made from (``upstream``: inputs' writers) or what was made from it."""
    toward, away = ("in", "out") if upstream else ("out", "in")
    if start.type == "job":
        jobs = {(start.namespace, start.name)}
    else:
        jobs = {(e.job_namespace, e.job_name) for e in g.touching([(start.namespace, start.name)], away)}
    edges: set[EdgeRow] = set()
    if start.type == "dataset":
        edges |= set(g.touching([(start.namespace, start.name)], away))
    seen, frontier = set(jobs), jobs
    for hop in range(depth + 1):
        if not frontier:
            break
        mine = [e for e in g.job_edges(sorted(frontier)) if e.direction == toward]
        edges.update(mine)
        if hop == depth:
            break
        found = [e for e in g.touching(sorted({(e.dataset_namespace, e.dataset_name) for e in mine}), away)
                 if (e.job_namespace, e.job_name) not in seen]
        edges.update(found)
        frontier = {(e.job_namespace, e.job_name) for e in found}
        seen |= frontier
    return edges


def _graph(r: LineageReader, start: NodeId, edges: set[EdgeRow], complete: bool) -> dict[str, Any]:
    """The graph's nodes and edges with their data; ``complete``: ``edges`` hold every job's current edges (its
    ``inputs`` and ``outputs``), so they are not read again. Nodes are plain (type, namespace, name) tuples here
    (a NodeId's order, compared in C: a hundred-node answer sorts ~1,500 pairs) and each id is formatted once."""
    node = (start.type, start.namespace, start.name)
    pairs: set[tuple[tuple[str, str, str], tuple[str, str, str]]] = set()
    for e in edges:
        job, ds = ("job", e.job_namespace, e.job_name), ("dataset", e.dataset_namespace, e.dataset_name)
        pairs.add((ds, job) if e.direction == "in" else (job, ds))
    nodes = {node} | {n for pair in pairs for n in pair}
    ids = {n: f"{n[0]}:{n[1]}:{n[2]}" for n in nodes}
    jobs = jobs_by_key(r, sorted((n[1], n[2]) for n in nodes if n[0] == "job"), full=False,
                       edges=list(edges) if complete else None)
    datasets = datasets_by_key(r, sorted((n[1], n[2]) for n in nodes if n[0] == "dataset"), full=False)
    ins: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    outs: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for origin, dest in sorted(pairs):
        edge = {"origin": ids[origin], "destination": ids[dest]}
        outs.setdefault(origin, []).append(edge)
        ins.setdefault(dest, []).append(edge)
    graph = []
    for n in sorted(nodes, key=ids.__getitem__):
        data = (jobs if n[0] == "job" else datasets).get((n[1], n[2]))
        graph.append({"id": ids[n], "type": n[0].upper(), "data": data or {"namespace": n[1], "name": n[2]},
                      "inEdges": ins.get(n, []), "outEdges": outs.get(n, [])})
    return {"graph": graph}
