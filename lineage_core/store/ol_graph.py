"""The lineage graph's queries: each a single statement however wide the frontier (the keys travel as one JSON
parameter, :func:`.ol_read.in_keys`), so a traversal costs a fixed number of statements per hop (one per hop on
SQLite, one per ten on PostgreSQL: :data:`HOPS`).

Only current edges count — those of each job's current version (Marquez's ``is_current_job_version``) — and a
hop joins the edge table to itself once: from the frontier's datasets to every job not seen yet that currently
reads or writes one of them, and those jobs' own current edges, by index. Column lineage is read here too.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from . import schema as t
from .ol_read import EdgeRow, Key, LineageReader, columns, encode, in_keys, statement


class ColumnRow(NamedTuple):
    namespace: str
    name: str
    version: str
    field: str
    input_namespace: str
    input_name: str
    input_version: str
    input_field: str
    transformation_description: str | None
    transformation_type: str | None
    updated_at: float


class GraphReader:
    """Graph and column-lineage queries over one :class:`LineageReader`'s connection."""

    def __init__(self, r: LineageReader) -> None:
        self._r = r

    def job_for_dataset(self, key: Key) -> Key | None:
        """The job Marquez starts a dataset's graph from: the one that last wrote it (whether or not its current
        version still does), else the last that read it."""
        ec = t.ol_edges.c
        q = (sa.select(ec.job_namespace, ec.job_name)
             .where(ec.dataset_namespace == key[0], ec.dataset_name == key[1])
             .order_by(ec.direction.desc(), ec.updated_at.desc(), ec.job_namespace, ec.job_name).limit(1))
        row = self._r.execute(q).first()
        return None if row is None else (row[0], row[1])

    def job_edges(self, jobs: Sequence[Key]) -> list[EdgeRow]:
        """The current edges of these jobs."""
        return self._r.edges(jobs, of="job")

    def reach(self, start: Key, depth: int) -> list[tuple[int, EdgeRow]]:
        """(hop, edge) for every current edge of the jobs within ``depth`` job hops of ``start`` (hop 0: its own),
        in one statement per :data:`HOPS` hops (see :func:`_hops`); each edge under the hop that first reached its
        job."""
        out: list[tuple[int, EdgeRow]] = []
        seen: list[Key] = [start]
        known: list[Key] = []
        frontier: list[Key] = []
        done = 0
        while True:
            hops, first = min(HOPS.get(self._r.dialect, 1), depth - done), done == 0
            q = statement(self._r.dialect, f"hops_{first}_{hops}", functools.partial(_hops, hops=hops, first=first))
            params = encode(seen, "seen") if first else {
                **encode(seen, "seen"), **encode(known, "known"), **encode(frontier, "frontier")}
            rows = [(done + int(row[0]), EdgeRow(*row[1:])) for row in self._r.execute(q, params)]
            out += rows
            done += hops
            if done >= depth or not rows:
                return out
            jobs, datasets, frontier_set = set(seen), set(known), set()
            for hop in range(done - hops, done + 1):  # replay the chunk's hops: who was seen, what is new
                reached = {(e.dataset_namespace, e.dataset_name) for h, e in rows if h == hop}
                jobs |= {(e.job_namespace, e.job_name) for h, e in rows if h == hop}
                frontier_set = reached - datasets
                datasets |= reached
            if not frontier_set:
                return out
            seen, known, frontier = sorted(jobs), sorted(datasets), sorted(frontier_set)

    def touching(self, datasets: Sequence[Key], direction: str) -> list[EdgeRow]:
        """The current edges of ``datasets`` in one direction: their writers ("out") or readers ("in")."""
        ec = t.ol_edges.c
        return [EdgeRow(*row) for row in self._r.keyed(f"touching_{direction}", lambda d: columns(
            t.ol_edges, EdgeRow).where(ec.current, ec.direction == direction,
                                       in_keys(d, [ec.dataset_namespace, ec.dataset_name])), datasets)]

    # -- column lineage -----------------------------------------------------------------------------
    def column_rows(self, datasets: Sequence[Key], upstream: bool = True) -> list[ColumnRow]:
        """Column-lineage rows whose output (``upstream``) or input dataset is one of ``datasets``."""
        cc = t.ol_column_lineage.c
        cols = [cc.namespace, cc.name] if upstream else [cc.input_namespace, cc.input_name]
        return [ColumnRow(*row) for row in self._r.keyed(f"columns_{upstream}", lambda d: columns(
            t.ol_column_lineage, ColumnRow).where(in_keys(d, cols)), datasets)]

    def has_dataset(self, key: Key) -> bool:
        dc = t.ol_datasets.c
        q = sa.select(dc.name).where(dc.namespace == key[0], dc.name == key[1])
        return self._r.execute(q).first() is not None


# Job hops per traversal statement: on PostgreSQL a statement is a round trip, and ten hops (the benchmark's depth)
# in one cost about what one does; SQLite runs in-process, and counts a chain's nested references (each hop reads the
# two before it: 2^n) against a limit of 65,535, so it takes one hop per statement.
HOPS = {"postgresql": 10}
_KEYS = {  # the (namespace, name) pairs of one JSON parameter (:func:`.ol_read.encode`) as rows
    "postgresql": "SELECT k.value ->> 0, k.value ->> 1 FROM jsonb_array_elements(CAST(:{p} AS JSONB)) AS k(value)",
    "sqlite": "SELECT json_extract(k.value, '$[0]'), json_extract(k.value, '$[1]') FROM json_each(:{p}) AS k"}
_EDGES_OF = ("SELECT t.job_namespace, t.job_name, t.dataset_namespace, t.dataset_name, t.direction FROM ol_edges t "
             "WHERE t.current AND (t.job_namespace, t.job_name) IN (SELECT ns, name FROM {jobs})")
_START = ("e0 AS ({e0}), k0(ns, name) AS (SELECT DISTINCT dataset_namespace, dataset_name FROM e0), "
          "f0 AS (SELECT * FROM k0)")
_HOP = (  # hop i from hop p = i - 1: its jobs, their edges, the jobs seen, the datasets known, the new ones
    "j{i}(ns, name) AS (SELECT DISTINCT h.job_namespace, h.job_name FROM ol_edges h WHERE h.current AND "
    "(h.dataset_namespace, h.dataset_name) IN (SELECT ns, name FROM f{p}) AND "
    "(h.job_namespace, h.job_name) NOT IN (SELECT ns, name FROM s{p})), e{i} AS ({edges}), "
    "s{i}(ns, name) AS (SELECT ns, name FROM s{p} UNION SELECT ns, name FROM j{i}), "
    "k{i}(ns, name) AS (SELECT ns, name FROM k{p} UNION SELECT dataset_namespace, dataset_name FROM e{i}), "
    "f{i}(ns, name) AS (SELECT dataset_namespace, dataset_name FROM e{i} EXCEPT SELECT ns, name FROM k{p})")
_ROWS = "SELECT {i} AS hop, job_namespace, job_name, dataset_namespace, dataset_name, direction FROM e{i}"


def _hops(dialect: str, hops: int, first: bool) -> Any:
    """``hops`` hops of the job-hop traversal in one statement: hop ``i``'s jobs are those not seen yet that
    currently read or write a dataset first reached at hop ``i - 1`` (its frontier), and its edges those jobs'
    current edges, exactly as one statement per hop would find them (so a dataset every job reads is expanded
    once, not once per path to it). ``first``: start from the job ``seen`` names (hop 0: its own edges);
    else from ``seen`` jobs, ``known`` datasets and the ``frontier`` of a previous chunk. Rows: (hop, edge).
    Every name spliced in is one of this module's constants, never a request's. PostgreSQL materialises each
    step once (all but the last are read twice), so the hops cost what separate statements would."""
    keys = _KEYS["postgresql" if dialect == "postgresql" else "sqlite"]
    ctes = [f"s0(ns, name) AS ({keys.format(p='seen')})"]
    if first:
        ctes.append(_START.format(e0=_EDGES_OF.format(jobs="s0")))
    else:
        ctes += [f"k0(ns, name) AS ({keys.format(p='known')})", f"f0(ns, name) AS ({keys.format(p='frontier')})"]
    ctes += [_HOP.format(i=i, p=i - 1, edges=_EDGES_OF.format(jobs=f"j{i}")) for i in range(1, hops + 1)]
    rows = " UNION ALL ".join(_ROWS.format(i=i) for i in range(0 if first else 1, hops + 1))
    return sa.text("WITH " + ", ".join(ctes) + " " + rows)


def latest(rows: list[ColumnRow]) -> list[ColumnRow]:
    """Marquez's ``DISTINCT ON (output field, input field) ... ORDER BY updated_at DESC``: per pair of fields, the
    row written last, whichever versions it links."""
    best: dict[tuple[str, ...], ColumnRow] = {}
    for row in rows:
        pair = (row.namespace, row.name, row.field, row.input_namespace, row.input_name, row.input_field)
        if pair not in best or _when(row) > _when(best[pair]):
            best[pair] = row
    return list(best.values())


def _when(row: ColumnRow) -> tuple[float, str, str]:
    return (row.updated_at, row.version, row.input_version)  # ties: any fixed order, so every read agrees


__all__ = ["ColumnRow", "GraphReader", "in_keys", "latest"]
