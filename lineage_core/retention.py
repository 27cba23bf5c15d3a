"""Retention: remove expired cache entries, runs beyond retention and unreferenced blobs.

Mark and sweep. What is live: every entry that survives the rules, every pinned run (``lineage pin``),
the run that produced a pinned hit, and every artifact a surviving entry references. Blobs are swept
only when older than a grace period, so a writer that has published a blob but not yet recorded its
entry is never robbed of it; the worst a race can leave is an entry whose blob is gone, which the
read path turns into a miss (never a wrong value).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .errors import ConfigError
from .store import schema as t

if TYPE_CHECKING:
    from .store import Store

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or plain seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not m:
        raise ConfigError(f"invalid duration {text!r}: use e.g. 30d, 12h, 90m or 3600")
    return float(m[1]) * _UNITS[m[2] or "s"]


@dataclass
class GcReport:
    dry_run: bool
    entries: int = 0
    runs: int = 0
    manifests: int = 0
    environments: int = 0
    artifacts: int = 0
    blobs: int = 0
    bytes: int = 0
    kept_pinned: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def pin(store: Store, run_id: str, note: str | None = None) -> str:
    """Protect a run (and the value it produced or served) from retention; returns the full run id."""
    run = store.get_run(run_id)
    with store.engine.begin() as c:
        c.execute(store._insert_or_ignore(t.pins), {"run_id": run["id"], "created_at": time.time(), "note": note})
    return str(run["id"])


def unpin(store: Store, run_id: str) -> str:
    run = store.get_run(run_id)
    with store.engine.begin() as c:
        c.execute(t.pins.delete().where(t.pins.c.run_id == run["id"]))
    return str(run["id"])


def _protected_runs(c: sa.Connection) -> set[str]:
    pinned = {r[0] for r in c.execute(sa.select(t.pins.c.run_id))}
    sources = {
        r[0]
        for r in c.execute(sa.select(t.runs.c.source_run_id).where(t.runs.c.id.in_(pinned)))
        if r[0]
    }
    return pinned | sources


def collect_garbage(
    store: Store,
    older_than: float | None = None,
    keep_last: int | None = None,
    grace: float = 3600.0,
    dry_run: bool = False,
) -> GcReport:
    """Apply the retention rules; with ``dry_run`` only count what would go."""
    if keep_last is not None and keep_last < 0:
        raise ConfigError("--keep-last must be >= 0")
    now = time.time()
    cutoff = now - older_than if older_than is not None else None
    report = GcReport(dry_run)
    ce, rn = t.cache_entries.c, t.runs.c
    with store.engine.begin() as c:
        protected = _protected_runs(c)
        rows = c.execute(
            sa.select(ce.key, ce.job_id, ce.run_id, ce.created_at, ce.tombstoned_at).order_by(
                ce.job_id, ce.created_at.desc()
            )
        ).all()
        doomed: list[str] = []
        rank: dict[int, int] = {}
        for key, job_id, run_id, created, tombstoned in rows:
            live_rank = rank.get(job_id, 0)
            if tombstoned is None:
                rank[job_id] = live_rank + 1
            expired = tombstoned is not None
            expired |= cutoff is not None and created < cutoff
            expired |= keep_last is not None and tombstoned is None and live_rank >= keep_last
            if expired and run_id in protected and tombstoned is None:
                report.kept_pinned += 1
            elif expired:
                doomed.append(key)
        report.entries = len(doomed)
        if not dry_run:
            for i in range(0, len(doomed), 500):
                c.execute(t.cache_entries.delete().where(ce.key.in_(doomed[i : i + 500])))
        if cutoff is not None:
            gone = set(doomed)
            keep_runs = protected | {run for key, _, run, _, _ in rows if key not in gone}
            q = sa.select(rn.id).where(rn.started_at < cutoff, rn.status != "RUNNING")
            old_runs = [r[0] for r in c.execute(q) if r[0] not in keep_runs]
            report.runs = len(old_runs)
            if not dry_run:
                for i in range(0, len(old_runs), 500):
                    c.execute(t.runs.delete().where(rn.id.in_(old_runs[i : i + 500])))
        if not dry_run:
            used_keys = sa.union(sa.select(rn.cache_key).where(rn.cache_key.is_not(None)), sa.select(ce.key))
            report.manifests = c.execute(t.manifests.delete().where(t.manifests.c.key.not_in(used_keys))).rowcount
            used_envs = sa.select(rn.environment_hash).where(rn.environment_hash.is_not(None))
            report.environments = c.execute(
                t.environments.delete().where(t.environments.c.hash.not_in(used_envs))
            ).rowcount
        doomed_keys = set(doomed)
        live_blobs = {h for k, h in c.execute(sa.select(ce.key, ce.artifact_hash)) if k not in doomed_keys}
        rows_now = c.execute(
            sa.select(t.artifacts.c.hash, t.artifacts.c.size, t.artifacts.c.created_at, t.artifacts.c.meta)
        ).all()
        dead = [(h, size) for h, size, created, _ in rows_now if created < now - grace and h not in live_blobs]
        report.artifacts = len(dead)
        if not dry_run:
            for i in range(0, len(dead), 500):
                c.execute(t.artifacts.delete().where(t.artifacts.c.hash.in_([h for h, _ in dead[i : i + 500]])))
        gone_rows = {h for h, _ in dead}
        kept_rows = [(h, meta) for h, _, _, meta in rows_now if h not in gone_rows]
        # a directory output's files are blobs named only in its row's meta: they live as long as it does
        keep = {h for h, _ in kept_rows} | {m for _, meta in kept_rows for m in (meta or {}).get("members", [])}
    _sweep_blobs(store, keep, now - grace, dry_run, report)
    return report


def _sweep_blobs(store: Store, live: set[str], before: float, dry_run: bool, report: GcReport) -> None:
    """Delete blob files (and stale temp files) that no live row names and that are older than grace."""
    arts = store.artifacts
    fs = arts.fs
    fs.invalidate_cache()  # object-store listings may be cached by the fsspec instance
    for sub in ("blobs", "tmp"):
        base = f"{arts.root}/{sub}"
        try:
            found = fs.find(base, detail=True)
        except FileNotFoundError:
            continue
        for path, info in found.items():
            digest = f"blake3:{os.path.basename(path)}"
            if sub == "blobs" and digest in live:
                continue
            mtime = info.get("mtime") or info.get("LastModified") or info.get("updated") or info.get("created")
            ts = mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime or 0)
            if ts >= before:
                continue
            report.blobs += 1
            report.bytes += int(info.get("size") or 0)
            if not dry_run:
                fs.rm_file(path)
