"""The datasets each run read and wrote (``run_datasets``): written with the run row, read to build its events.

Inputs are resolved when the run is written, against the outputs earlier runs recorded: an argument that names
its producing run (an ``ArtifactRef``) becomes that run's output of the same version, any other argument with
a content hash the output some run recorded with that ``content`` (a DataFrame handed on in memory), else it
keeps its own location (a file, a URL) or is no dataset (an in-memory value nobody wrote). All lookups of one
run are one statement: one indexed ``LIMIT 1`` probe per argument.

Outputs are recorded once, by the run that wrote them: a hit's outputs are its source run's (read through
``runs.source_run_id``), so a hit writes no output rows, and a step without data arguments records its hit
with the run row alone. Retention hands a source run's outputs over to its surviving hits before it deletes
it (lineage_core.store.retention), so no run's datasets change while the run exists.

The writes run on the hit path: each statement is compiled once per dialect and executed on the transaction's
DBAPI cursor.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from . import dataset_rows as rows
from . import schema as t
from .base import StoreBase
from .protocol import RunDataset

_rd = t.run_datasets.c
_COLUMNS = rows.COLUMNS


def _fields(value: Any) -> tuple[tuple[str, str], ...] | None:
    """The ``fields`` column as the driver returns it (JSON text on SQLite, parsed on PostgreSQL)."""
    if isinstance(value, str):
        value = json.loads(value)
    return tuple((str(n), str(ty)) for n, ty in value) if value else None


class RunDatasetsMixin(StoreBase):
    """Writes and reads ``run_datasets`` (mixed into :class:`~lineage_core.store.metadata.Store`)."""

    def _compiled(self, name: Any, build: Callable[[], Any]) -> tuple[str, Any]:
        """(SQL text, positional parameter order or None) of a statement, compiled once for the dialect."""
        cache: dict[Any, tuple[str, Any]] = self.__dict__.setdefault("_run_datasets_sql", {})
        sql = cache.get(name)
        if sql is None:
            compiled = build().compile(dialect=self.engine.dialect)
            sql = cache[name] = (str(compiled), compiled.positiontup)
            assert name != "insert" or not sql[1] or tuple(sql[1]) == _COLUMNS  # rows are built in column order
        return sql

    # -- writing -------------------------------------------------------------------------------
    def _write_datasets(self, conn: sa.Connection, run_id: str, inputs: Sequence[RunDataset],
                        outputs: Sequence[RunDataset]) -> None:
        """Record what a run reads (resolved) and writes, on the transaction's own DBAPI cursor: these statements
        run on the hit path, where result objects and re-encoding the rows would cost more than the work."""
        now = time.time()
        cur = conn.connection.cursor()
        try:
            written = self._resolved(cur, run_id, inputs, now) if inputs else []
            written += rows.output_rows(run_id, outputs, now)
            if written:
                text, positions = self._compiled("insert", lambda: t.run_datasets.insert().values(
                    {c: sa.bindparam(c) for c in _COLUMNS}))
                params = written if positions else [dict(zip(_COLUMNS, r, strict=True)) for r in written]
                cur.execute(text, params[0]) if len(params) == 1 else cur.executemany(text, params)
        finally:
            cur.close()

    def _resolved(self, cur: Any, run_id: str, inputs: Sequence[RunDataset], now: float) -> list[tuple[Any, ...]]:
        """The input rows: each resolved to the earlier output it names or carries (one statement for all),
        each location once, those without any location left out."""
        probes = rows.probes(inputs)
        found: dict[int, tuple[Any, ...]] = {}
        if probes:
            shape = tuple(kind for _, kind in probes)
            text, positions = self._compiled(("resolve", shape), lambda: sa.text(rows.resolve_sql(shape)))
            params = rows.resolve_params(probes, inputs)
            cur.execute(text, tuple(params[k] for k in positions) if positions else params)
            for n, *row in cur.fetchall():
                found.setdefault(probes[n][0], tuple(row))
        return rows.input_rows(run_id, inputs, found, now)

    # -- reading -------------------------------------------------------------------------------
    def run_datasets(self, run_id: str) -> tuple[list[RunDataset], list[RunDataset]]:
        """The run's inputs and outputs; a hit that recorded no outputs has its source run's."""
        runs = t.runs.c
        cols = (_rd.direction, _rd.location, _rd.version, _rd.content, _rd.fields, _rd.position)
        own = sa.select(sa.literal(0).label("inherited"), *cols).where(_rd.run_id == run_id)
        inherited = (sa.select(sa.literal(1).label("inherited"), *cols)
                     .select_from(t.runs.join(t.run_datasets, _rd.run_id == runs.source_run_id))
                     .where(runs.id == run_id, _rd.direction == "out"))
        q = sa.union_all(own, inherited).order_by("inherited", "direction", "position")
        inputs: list[RunDataset] = []
        own_outputs: list[RunDataset] = []
        inherited_outputs: list[RunDataset] = []
        with self.engine.connect() as c:
            for inherit, direction, location, version, content, fields, _ in c.execute(q):
                d = RunDataset(location, version, content, _fields(fields))
                (inputs if direction == "in" else inherited_outputs if inherit else own_outputs).append(d)
        return inputs, own_outputs or inherited_outputs
