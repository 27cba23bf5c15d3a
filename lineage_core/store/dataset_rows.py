"""The ``run_datasets`` rows a run writes, built one way for both writers: the SQL store (run_datasets.py) and the
sqlite3 hit path (fast_sqlite.py), which records a hit's inputs without SQLAlchemy. SQL text and plain tuples
only; each writer executes them on its own connection."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .protocol import RunDataset

COLUMNS = ("run_id", "direction", "position", "location", "version", "content", "fields", "created_at")
INSERT = f"INSERT INTO run_datasets ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608


def probes(inputs: Sequence[RunDataset]) -> list[tuple[int, str]]:
    """(input index, ``r``: by producing run and version | ``c``: by content) of each input that may resolve."""
    return [(i, "r" if d.source_run else "c") for i, d in enumerate(inputs) if d.source_run or d.content]


def resolve_sql(shape: tuple[str, ...]) -> str:
    """One ``LIMIT 1`` probe per argument (``c``: by content, ``r``: by producing run and version), as one
    UNION ALL with named parameters ``:k0``, ``:r0``…; each probe is an index seek (``ix_run_datasets_content``,
    or the primary key)."""
    out = []
    for n, kind in enumerate(shape):
        where = f"run_id = :r{n} AND version = :k{n}" if kind == "r" else f"content = :k{n}"
        out.append(f"SELECT * FROM (SELECT {n} AS n, location, version, fields FROM run_datasets "  # noqa: S608
                   f"WHERE {where} AND direction = 'out' LIMIT 1) AS p{n}")  # (n: an int; values are bound)
    return " UNION ALL ".join(out)


def resolve_params(found: list[tuple[int, str]], inputs: Sequence[RunDataset]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for n, (i, kind) in enumerate(found):
        params[f"k{n}"] = inputs[i].version if kind == "r" else inputs[i].content
        if kind == "r":
            params[f"r{n}"] = inputs[i].source_run
    return params


def input_rows(run_id: str, inputs: Sequence[RunDataset], found: dict[int, tuple[Any, ...]],
               now: float) -> list[tuple[Any, ...]]:
    """The input rows: each resolved to the earlier output it names or carries (``found``: index -> (location,
    version, fields)), each location once, those without any location left out."""
    rows: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    for i, d in enumerate(inputs):
        location, version, fields = found.get(i) or (d.location, d.version, fields_json(d.fields))
        if location is not None and location not in seen:
            seen.add(location)
            rows.append((run_id, "in", len(rows), location, version, d.content, fields_text(fields), now))
    return rows


def output_rows(run_id: str, outputs: Sequence[RunDataset], now: float) -> list[tuple[Any, ...]]:
    return [(run_id, "out", n, d.location, d.version, d.content, fields_json(d.fields), now)
            for n, d in enumerate(outputs)]


def fields_json(fields: tuple[tuple[str, str], ...] | None) -> str | None:
    return json.dumps([list(f) for f in fields]) if fields else None


def fields_text(fields: Any) -> str | None:
    """The ``fields`` column as the driver returned it, as the JSON text a parameter carries."""
    return fields if fields is None or isinstance(fields, str) else json.dumps(fields)
