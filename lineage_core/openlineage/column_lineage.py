"""Column lineage, as Marquez 0.51 keeps and serves it (``OpenLineageDao.upsertColumnLineage``,
``ColumnLineageDao``, ``ColumnLineageService``).

**Kept**: a ``columnLineage`` facet on a dataset a run writes links each output field — one the same event's
``schema`` facet names — to the input fields it lists that are fields of the versions the run read; the
transformation is the output field's ``transformationDescription``/``transformationType``
(Marquez reads neither the 1-2-0 per-input ``transformations`` nor the dataset-level ``dataset`` list).

**Served**: ``Dataset.columnLineage`` (each output field with its inputs, the latest link per pair of fields)
and ``GET /api/v1/column-lineage?nodeId=…&depth=…&withDownstream=``: from a dataset's fields (or one
``datasetField:ns:dataset:field``), the links into them, then their inputs' links, up to ``depth`` links deep,
and with ``withDownstream`` the links out of them too. As in Marquez, a node's ``inEdges`` run from the node to
its inputs, its ``outEdges`` from it to the fields made from it, and a dataset nothing was made from (a source)
has no links into it to start from, so its graph is empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..store.ol_graph import ColumnRow, GraphReader, latest
from ..store.ol_read import Key, LineageReader, read_lineage
from .versions import row_id, schema_fields

if TYPE_CHECKING:
    from ..store import Store

Row = dict[str, Any]


# -- kept ---------------------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _names(facets: Any) -> set[str]:
    return {f["name"] for f in schema_fields(facets if isinstance(facets, dict) else {}) or []
            if isinstance(f.get("name"), str)}


def _version_fields(version: Row | None) -> set[str]:
    return {f["name"] for f in (version or {}).get("fields") or []}


def rows(key: Key, version: str, facets: dict[str, Any], reads: Mapping[Key, str],
         versions: Mapping[tuple[str, str, str], Row], when: float) -> list[Row]:
    """The column-lineage rows one write of ``key`` (as ``version``) makes, given what its run read."""
    facet = facets.get("columnLineage")
    fields = facet.get("fields") if isinstance(facet, dict) else None
    if not isinstance(fields, dict):
        return []
    outputs = _names(facets)
    out: list[Row] = []
    for column, spec in fields.items():
        if not isinstance(spec, dict) or column not in outputs:
            continue  # as Marquez: only a field the dataset's schema has
        for inp in spec.get("inputFields") or []:
            if not isinstance(inp, dict):
                continue
            ns, name, field = _text(inp.get("namespace")), _text(inp.get("name")), _text(inp.get("field"))
            if ns is None or name is None or field is None:
                continue
            read = reads.get((ns, name))
            if read is None or field not in _version_fields(versions.get((ns, name, read))):
                continue  # not a field of a version the run read
            out.append({"id": row_id(*key, version, column, ns, name, read, field), "namespace": key[0],
                        "name": key[1], "version": version, "field": column, "input_namespace": ns,
                        "input_name": name, "input_version": read, "input_field": field,
                        "transformation_description": _text(spec.get("transformationDescription")),
                        "transformation_type": _text(spec.get("transformationType")),
                        "created_at": when, "updated_at": when})
    return out


# -- Dataset.columnLineage ------------------------------------------------------------------------------
def _inputs(rows_: Iterable[ColumnRow]) -> list[ColumnRow]:
    return sorted(rows_, key=lambda c: (c.input_namespace, c.input_name, c.input_version, c.input_field,
                                        c.transformation_description or "", c.transformation_type or ""))


def of_datasets(r: LineageReader, keys: list[Key]) -> dict[Key, list[dict[str, Any]]]:
    """``Dataset.columnLineage`` of each dataset that has any (one statement)."""
    by_field: dict[tuple[str, str, str], list[ColumnRow]] = {}
    for c in latest(GraphReader(r).column_rows(keys)):
        by_field.setdefault((c.namespace, c.name, c.field), []).append(c)
    out: dict[Key, list[dict[str, Any]]] = {}
    for (ns, name, field), found in sorted(by_field.items()):
        inputs = [{"namespace": c.input_namespace, "dataset": c.input_name, "field": c.input_field,
                   "transformationDescription": c.transformation_description,
                   "transformationType": c.transformation_type} for c in _inputs(found)]
        out.setdefault((ns, name), []).append({
            "name": field, "inputFields": inputs, "transformationDescription": inputs[0]["transformationDescription"],
            "transformationType": inputs[0]["transformationType"]})
    return out


# -- the graph ----------------------------------------------------------------------------------------
def field_node_id(ns: str, dataset: str, field: str) -> str:
    return f"datasetField:{ns}:{dataset}:{field}"


def graph(store: Store, start: Key, field: str | None, depth: int, with_downstream: bool) -> dict[str, Any] | None:
    """Marquez's column-lineage graph from a dataset's fields (or one of them); None if there is no such node."""
    with read_lineage(store) as r:
        g = GraphReader(r)
        if not g.has_dataset(start):
            return None
        level = [c for c in latest(g.column_rows([start])) if field is None or c.field == field]
        if field is not None and not level and field not in _field_types(r, [start]).get(start, {}):
            return None
        found: dict[tuple[str, ...], ColumnRow] = {_id(c): c for c in level}
        for _ in range(1, depth):
            nxt: list[ColumnRow] = []
            wanted = {(c.input_namespace, c.input_name, c.input_field) for c in level}
            nxt += [c for c in latest(g.column_rows(sorted({w[:2] for w in wanted})))
                    if (c.namespace, c.name, c.field) in wanted]
            if with_downstream:
                made = {(c.namespace, c.name, c.field) for c in level}
                nxt += [c for c in latest(g.column_rows(sorted({m[:2] for m in made}), upstream=False))
                        if (c.input_namespace, c.input_name, c.input_field) in made]
            level = [c for c in nxt if _id(c) not in found]
            if not level:
                break
            found.update({_id(c): c for c in level})
        types = _field_types(r, sorted({(c.namespace, c.name) for c in found.values()}))
    return {"graph": _nodes(list(found.values()), types)}


def _id(c: ColumnRow) -> tuple[str, ...]:
    return (c.namespace, c.name, c.field, c.input_namespace, c.input_name, c.input_field)


def _field_types(r: LineageReader, keys: list[Key]) -> dict[Key, dict[str, str | None]]:
    """Each dataset's current fields: name -> type."""
    return {(d.namespace, d.name): {f["name"]: f.get("type") for f in d.version_fields or []}
            for d in r.datasets(keys)}


def _nodes(found: list[ColumnRow], types: dict[Key, dict[str, str | None]]) -> list[dict[str, Any]]:
    by_output: dict[tuple[str, str, str], list[ColumnRow]] = {}
    for c in found:
        by_output.setdefault((c.namespace, c.name, c.field), []).append(c)
    nodes: dict[str, dict[str, Any]] = {}
    outs: dict[str, set[str]] = {}
    for (ns, name, field), links in sorted(by_output.items()):
        node = field_node_id(ns, name, field)
        ordered = _inputs(links)
        inputs = [{"namespace": c.input_namespace, "dataset": c.input_name, "datasetVersion": c.input_version,
                   "field": c.input_field, "transformationDescription": c.transformation_description,
                   "transformationType": c.transformation_type} for c in ordered]
        newest = max(links, key=lambda c: (c.updated_at, c.version))
        nodes[node] = {"id": node, "type": "DATASET_FIELD", "data": {
            "namespace": ns, "dataset": name, "datasetVersion": newest.version, "field": field,
            "fieldType": types.get((ns, name), {}).get(field), "transformationDescription":
            inputs[0]["transformationDescription"], "transformationType": inputs[0]["transformationType"],
            "inputFields": inputs}, "inEdges": [], "outEdges": []}
        ids = [field_node_id(c.input_namespace, c.input_name, c.input_field) for c in ordered]
        nodes[node]["inEdges"] = [{"origin": node, "destination": i} for i in sorted(set(ids))]  # sic: Marquez's
        for c, i in zip(ordered, ids, strict=True):
            outs.setdefault(i, set()).add(node)
            nodes.setdefault(i, {"id": i, "type": "DATASET_FIELD", "data": {
                "namespace": c.input_namespace, "dataset": c.input_name, "datasetVersion": c.input_version,
                "field": c.input_field, "fieldType": "", "transformationDescription": None,
                "transformationType": None, "inputFields": []}, "inEdges": [], "outEdges": []})
    for i, made in outs.items():
        nodes[i]["outEdges"] = [{"origin": i, "destination": m} for m in sorted(made)]
    return [nodes[k] for k in sorted(nodes)]


def check_depth(depth: int) -> int:
    if depth < 0:
        raise ConfigError("depth must not be negative")
    return min(depth, 100)
