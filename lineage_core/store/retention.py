"""The SQL of retention: pins, a snapshot of what the rules are applied to, and the removal of what a
plan named (see :mod:`lineage_core.retention`, which decides what goes).

A removal is one transaction: entries, runs (and the datasets recorded for them, a hit's outputs handed
over first), the key manifests and environment snapshots nothing uses any more, and artifact rows go
together or not at all. An artifact row is removed only if it is still
older than the grace period when the transaction deletes it — a writer that reused it since the snapshot
has touched it (``Store.put_entry``), so a concurrent hit never loses its row. The artifact rows that
remain are read back in the same transaction, so the blob sweep that follows keeps what they name.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa

from ..runs import RunStatus
from . import schema as t
from .tags import tagged_runs

if TYPE_CHECKING:
    from .metadata import Store

_BATCH = 500


class EntryRow(NamedTuple):
    key: str
    job_id: int
    run_id: str
    artifact_hash: str
    created_at: float
    tombstoned_at: float | None


class ArtifactRow(NamedTuple):
    hash: str
    size: int
    created_at: float
    meta: dict[str, Any] | None


@dataclass(frozen=True)
class RetentionSnapshot:
    """What the retention rules are applied to, read on one connection."""

    protected: frozenset[str]  # pinned and tagged runs, and the runs that produced such a hit's value
    entries: list[EntryRow]  # by job, newest first
    artifacts: list[ArtifactRow]
    old_runs: list[str]  # finished runs that started before the cutoff (none without a cutoff)


@dataclass(frozen=True)
class Removed:
    """What one removal deleted, and the artifact rows left after it (hash, meta)."""

    entries: int
    runs: int
    manifests: int
    environments: int
    artifacts: int
    remaining: list[tuple[str, dict[str, Any] | None]]


class RetentionTables:
    """Pins and the retention reads and deletes of one store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def pin(self, run_id: str, note: str | None) -> None:
        with self._store.engine.begin() as c:
            row = {"run_id": run_id, "created_at": time.time(), "note": note}
            c.execute(self._store._insert_or_ignore(t.pins), row)

    def unpin(self, run_id: str) -> None:
        with self._store.engine.begin() as c:
            c.execute(t.pins.delete().where(t.pins.c.run_id == run_id))

    def snapshot(self, runs_before: float | None) -> RetentionSnapshot:
        """Pins, entries, artifact rows and (with ``runs_before``) the finished runs started before it."""
        ce, rn, ar = t.cache_entries.c, t.runs.c, t.artifacts.c
        with self._store.engine.connect() as c:
            pinned = {r[0] for r in c.execute(sa.select(t.pins.c.run_id))} | tagged_runs(c)
            sources = {r[0] for r in c.execute(sa.select(rn.source_run_id).where(rn.id.in_(pinned))) if r[0]}
            entries = [EntryRow(*r) for r in c.execute(
                sa.select(ce.key, ce.job_id, ce.run_id, ce.artifact_hash, ce.created_at, ce.tombstoned_at)
                .order_by(ce.job_id, ce.created_at.desc())
            )]
            old_runs: list[str] = []
            if runs_before is not None:
                q = sa.select(rn.id).where(rn.started_at < runs_before, rn.status != RunStatus.RUNNING)
                old_runs = [r[0] for r in c.execute(q)]
            artifacts = [ArtifactRow(*r) for r in c.execute(sa.select(ar.hash, ar.size, ar.created_at, ar.meta))]
        return RetentionSnapshot(frozenset(pinned | sources), entries, artifacts, old_runs)

    def remove(self, entries: Sequence[str], runs: Sequence[str], artifacts: Sequence[str],
               artifacts_before: float) -> Removed:
        """Delete the given entries, runs and artifact rows (those still older than ``artifacts_before``),
        and every key manifest and environment snapshot that no remaining run or entry uses."""
        ce, rn, ar = t.cache_entries.c, t.runs.c, t.artifacts.c
        with self._store.engine.begin() as c:
            n_entries = self._delete(c, t.cache_entries, ce.key, entries)
            self._hand_over_outputs(c, runs)
            self._hand_over_metrics(c, runs)
            n_runs = self._delete(c, t.runs, rn.id, runs)
            self._delete(c, t.run_datasets, t.run_datasets.c.run_id, runs)  # no foreign key: gone with their runs
            used_keys = sa.union(sa.select(rn.cache_key).where(rn.cache_key.is_not(None)), sa.select(ce.key))
            manifests = c.execute(t.manifests.delete().where(t.manifests.c.key.not_in(used_keys))).rowcount
            used_envs = sa.select(rn.environment_hash).where(rn.environment_hash.is_not(None))
            envs = c.execute(t.environments.delete().where(t.environments.c.hash.not_in(used_envs))).rowcount
            n_artifacts = self._delete(c, t.artifacts, ar.hash, artifacts, ar.created_at < artifacts_before)
            remaining = [(h, meta) for h, meta in c.execute(sa.select(ar.hash, ar.meta))]
        return Removed(n_entries, n_runs, manifests or 0, envs or 0, n_artifacts, remaining)

    @staticmethod
    def _hand_over_outputs(c: sa.Connection, runs: Sequence[str]) -> None:
        """A hit's outputs are its source run's rows (recorded once): before a source run goes, its hits that
        recorded none get a copy, so what they wrote stays what it was. (Hits share their source's cache key,
        which is indexed.)"""
        rd = t.run_datasets.c
        source, hit, own = t.runs.alias("source"), t.runs.alias("hit"), t.run_datasets.alias("own")
        for i in range(0, len(runs), _BATCH):
            has_outputs = sa.exists().where(own.c.run_id == hit.c.id, own.c.direction == "out")
            rows = (sa.select(hit.c.id, rd.direction, rd.position, rd.location, rd.version, rd.content, rd.fields,
                              rd.created_at)
                    .select_from(source.join(hit, sa.and_(hit.c.cache_key == source.c.cache_key,
                                                          hit.c.source_run_id == source.c.id))
                                 .join(t.run_datasets, rd.run_id == source.c.id))
                    .where(source.c.id.in_(runs[i : i + _BATCH]), rd.direction == "out", ~has_outputs))
            c.execute(t.run_datasets.insert().from_select(
                ["run_id", "direction", "position", "location", "version", "content", "fields", "created_at"], rows))

    @staticmethod
    def _hand_over_metrics(c: sa.Connection, runs: Sequence[str]) -> None:
        """A hit's metrics are its source run's (read through ``source_run_id``, never copied on the hit path):
        before a source run goes, its hits get them in their own context (lineage_core.metrics)."""
        source, hit = t.runs.alias("source"), t.runs.alias("hit")
        for i in range(0, len(runs), _BATCH):
            q = (sa.select(hit.c.id, hit.c.context, source.c.context)
                 .select_from(source.join(hit, hit.c.source_run_id == source.c.id))
                 .where(source.c.id.in_(runs[i : i + _BATCH]), hit.c.status == RunStatus.CACHED.value))
            for hit_id, context, given in c.execute(q).all():
                metrics = (given or {}).get("metrics")
                if metrics and not (context or {}).get("metrics"):
                    c.execute(t.runs.update().where(t.runs.c.id == hit_id)
                              .values(context={**(context or {}), "metrics": metrics}))

    @staticmethod
    def _delete(c: sa.Connection, table: sa.Table, col: Any, ids: Sequence[str], *also: Any) -> int:
        n = 0
        for i in range(0, len(ids), _BATCH):
            n += c.execute(table.delete().where(col.in_(ids[i : i + _BATCH]), *also)).rowcount or 0
        return n
