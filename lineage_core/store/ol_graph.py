"""The lineage graph's queries: each a single statement however wide the frontier (the keys travel as one JSON
parameter, :func:`.ol_read.in_keys`), so a traversal costs a fixed number of statements per hop.

Only current edges count — those of each job's current version (Marquez's ``is_current_job_version``) — and a
hop joins the edge table to itself once: from the frontier's datasets to every job that currently reads or
writes one of them, and those jobs' own current edges, in one indexed query. Column lineage is read here too.
"""

from __future__ import annotations

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


def _edges(alias: Any) -> sa.Select[Any]:
    return sa.select(alias.c.job_namespace, alias.c.job_name, alias.c.dataset_namespace, alias.c.dataset_name,
                     alias.c.direction)


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

    def sharing(self, datasets: Sequence[Key], seen: Sequence[Key]) -> list[EdgeRow]:
        """Every current edge of every job not ``seen`` yet that currently reads or writes one of ``datasets``
        (one hop, one statement)."""

        def build(dialect: str) -> Any:
            here, there = t.ol_edges.alias("here"), t.ol_edges.alias("there")
            joined = here.join(there, sa.and_(there.c.job_namespace == here.c.job_namespace,
                                              there.c.job_name == here.c.job_name, there.c.current))
            return _edges(there).select_from(joined).where(
                here.c.current, in_keys(dialect, [here.c.dataset_namespace, here.c.dataset_name]),
                sa.not_(in_keys(dialect, [here.c.job_namespace, here.c.job_name], "seen"))).distinct()

        if not datasets:
            return []
        q = statement(self._r.dialect, "sharing", build)
        return [EdgeRow(*row) for row in self._r.execute(q, {**encode(datasets), **encode(seen, "seen")})]

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
