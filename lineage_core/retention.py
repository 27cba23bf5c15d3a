"""Retention: remove expired cache entries, runs beyond retention and unreferenced blobs.

Mark and sweep, in two steps: :func:`plan_garbage` applies the rules to a snapshot of the store and the
artifact listing and returns a :class:`GcPlan` (``lineage cache gc --dry-run`` prints it);
:func:`apply_plan` removes what the plan names. What is live: every entry that survives the rules,
every pinned or tagged run (``lineage pin``, ``lineage tag``), the run that produced a pinned or tagged
hit, and every artifact a surviving entry references.

The rules: an invalidated entry always goes (it can never be served again); ``older_than`` expires entries
(and finished runs) created before the cutoff; ``keep_last`` protects the newest N valid entries of each job
whatever the other rules say — given alone, it removes every valid entry beyond those N. A pin or a tag
protects its run's entry from every rule but invalidation. The plan says why each entry goes (``GcPlan.why``).

Blobs are swept only when older than a grace period, so a writer that has published a blob but not yet
recorded its entry is never robbed of it; the worst a race can leave is an entry whose blob is gone, which
the read path turns into a miss (never a wrong value).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .store.retention import RetentionSnapshot, RetentionTables

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
    kept_recent: int = 0  # expired entries kept because they are among the newest ``keep_last`` of their job
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class BlobFile:
    """A file of the artifact store that a plan removes: a blob, or a stale temp file (``temp``)."""

    path: str
    digest: str
    size: int
    temp: bool = False


@dataclass(frozen=True)
class GcPlan:
    """What one garbage collection removes. Key manifests and environment snapshots that nothing uses
    any more once these are gone are removed too, and counted when the plan is applied."""

    at: float  # when the plan was made
    sweep_before: float  # blobs and artifact rows must be older than this (the grace period)
    entries: tuple[str, ...]  # cache keys
    runs: tuple[str, ...]  # run ids
    artifacts: tuple[str, ...]  # artifact rows (content hashes)
    blobs: tuple[BlobFile, ...]
    kept_pinned: int  # expired entries kept because a pin or a tag protects their run
    why: dict[str, str] = field(default_factory=dict)  # cache key -> why the rules remove that entry
    kept_recent: int = 0  # expired entries kept because they are among the newest ``keep_last`` of their job

    @property
    def bytes(self) -> int:
        return sum(b.size for b in self.blobs)

    def report(self) -> GcReport:
        """The plan's counts, as a dry run reports them."""
        return GcReport(True, entries=len(self.entries), runs=len(self.runs), artifacts=len(self.artifacts),
                        blobs=len(self.blobs), bytes=self.bytes, kept_pinned=self.kept_pinned,
                        kept_recent=self.kept_recent)

    def to_dict(self) -> dict[str, Any]:
        return {"entries": list(self.entries), "runs": list(self.runs), "artifacts": list(self.artifacts),
                "blobs": [{"path": b.path, "size": b.size, "temp": b.temp} for b in self.blobs],
                "why": {k: self.why.get(k, "") for k in self.entries}}

    def lines(self) -> list[str]:
        """One line per thing the plan removes and why, for people."""
        return plan_lines(self.to_dict())


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """One line per thing a plan (:meth:`GcPlan.to_dict`, as a server answers it too) removes, and why."""
    why = plan.get("why") or {}
    return ([f"entry    {k}: {why.get(k) or 'expired'}" for k in plan["entries"]]
            + [f"run      {r}: finished before the cutoff; no surviving entry, pin or tag needs it"
               for r in plan["runs"]]
            + [f"artifact {a}: no surviving entry names it" for a in plan["artifacts"]]
            + [f"blob     {b['path']} ({b['size']} bytes): "
               + ("a stale temp file" if b.get("temp") else "no artifact left names it") for b in plan["blobs"]])


def pin(store: Store, run_id: str, note: str | None = None) -> str:
    """Protect a run (and the value it produced or served) from retention; returns the full run id."""
    run = store.get_run(run_id)
    RetentionTables(store).pin(run["id"], note)
    return str(run["id"])


def unpin(store: Store, run_id: str) -> str:
    run = store.get_run(run_id)
    RetentionTables(store).unpin(run["id"])
    return str(run["id"])


def collect_garbage(
    store: Store,
    older_than: float | None = None,
    keep_last: int | None = None,
    grace: float = 3600.0,
    dry_run: bool = False,
) -> GcReport:
    """Apply the retention rules; with ``dry_run`` only count what would go."""
    plan = plan_garbage(store, older_than, keep_last, grace)
    return plan.report() if dry_run else apply_plan(store, plan)


def plan_garbage(store: Store, older_than: float | None = None, keep_last: int | None = None,
                 grace: float = 3600.0) -> GcPlan:
    """What the rules remove now (see the module's docstring): invalidated entries; entries older than
    ``older_than`` (or, with ``keep_last`` alone, beyond it) except the newest ``keep_last`` of each job and
    those of pinned or tagged runs; finished runs older than ``older_than`` that no surviving entry, pin or
    tag needs; artifact rows and blobs older than ``grace`` that nothing surviving names."""
    if keep_last is not None and keep_last < 0:
        raise ConfigError("--keep-last must be >= 0")
    now = time.time()
    cutoff = now - older_than if older_than is not None else None
    before = now - grace
    files = _old_files(store, before)  # listed first: the snapshot that judges them is then the newer
    snap = RetentionTables(store).snapshot(cutoff)
    doomed, kept_pinned, kept_recent = _doomed_entries(snap, now, older_than, keep_last)
    gone = set(doomed)
    runs: list[str] = []
    if cutoff is not None:
        keep_runs = snap.protected | {e.run_id for e in snap.entries if e.key not in gone}
        runs = [r for r in snap.old_runs if r not in keep_runs]
    live = {e.artifact_hash for e in snap.entries if e.key not in gone}
    dead = [a.hash for a in snap.artifacts if a.created_at < before and a.hash not in live]
    dead_set = set(dead)
    keep = _named((a.hash, a.meta) for a in snap.artifacts if a.hash not in dead_set)
    blobs = tuple(f for f in files if f.temp or f.digest not in keep)
    return GcPlan(now, before, tuple(doomed), tuple(runs), tuple(dead), blobs, kept_pinned, doomed, kept_recent)


def apply_plan(store: Store, plan: GcPlan) -> GcReport:
    """Remove what ``plan`` names: the rows in one transaction, then the blob files nothing left names."""
    removed = RetentionTables(store).remove(plan.entries, plan.runs, plan.artifacts, plan.sweep_before)
    report = GcReport(False, entries=removed.entries, runs=removed.runs, manifests=removed.manifests,
                      environments=removed.environments, artifacts=removed.artifacts, kept_pinned=plan.kept_pinned,
                      kept_recent=plan.kept_recent)
    keep = _named(removed.remaining)
    fs = store.artifacts.fs
    for blob in plan.blobs:
        if blob.temp or blob.digest not in keep:
            fs.rm_file(blob.path)
            report.blobs += 1
            report.bytes += blob.size
    return report


def _doomed_entries(snap: RetentionSnapshot, now: float, older_than: float | None,
                    keep_last: int | None) -> tuple[dict[str, str], int, int]:
    """The entries the rules remove (key -> why, in snapshot order), how many expired ones a pin or tag keeps,
    and how many expired ones ``keep_last`` keeps."""
    cutoff = now - older_than if older_than is not None else None
    doomed: dict[str, str] = {}
    kept_pinned = kept_recent = 0
    rank: dict[int, int] = {}
    for e in snap.entries:  # by job, newest first: rank counts the valid entries before this one
        if e.tombstoned_at is not None:
            doomed[e.key] = "invalidated (it can never be served again)"
            continue
        live_rank = rank[e.job_id] = rank.get(e.job_id, 0) + 1
        why = None
        if cutoff is not None and e.created_at < cutoff:
            why = f"older than {_duration(older_than or 0)} (created {_duration(now - e.created_at)} ago)"
        elif cutoff is None and keep_last is not None and live_rank > keep_last:
            why = f"beyond the newest {keep_last} of its job (it is number {live_rank})"
        if why is None:
            continue
        if keep_last is not None and live_rank <= keep_last:
            kept_recent += 1
        elif e.run_id in snap.protected:
            kept_pinned += 1
        else:
            doomed[e.key] = why
    return doomed, kept_pinned, kept_recent


def _duration(seconds: float) -> str:
    """A span as the options write it (``30d``, ``12h``, ``90m``, ``45s``), in its largest unit."""
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit]:
            n = seconds / _UNITS[unit]
            return f"{n:.0f}{unit}" if n == int(n) else f"{n:.1f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def _named(rows: Iterable[tuple[str, dict[str, Any] | None]]) -> set[str]:
    """The blobs artifact rows name: their own, and a directory output's files (named only in its meta)."""
    keep: set[str] = set()
    for digest, meta in rows:
        keep.add(digest)
        keep.update((meta or {}).get("members", []))
    return keep


def _old_files(store: Store, before: float) -> list[BlobFile]:
    """Blob files and temp files of the artifact store last modified before ``before``."""
    arts = store.artifacts
    fs = arts.fs
    fs.invalidate_cache()  # object-store listings may be cached by the fsspec instance
    old: list[BlobFile] = []
    for sub in ("blobs", "tmp"):
        try:
            found = fs.find(f"{arts.root}/{sub}", detail=True)
        except FileNotFoundError:
            continue
        for path, info in found.items():
            mtime = info.get("mtime") or info.get("LastModified") or info.get("updated") or info.get("created")
            ts = mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime or 0)
            if ts < before:
                old.append(BlobFile(path, f"blake3:{os.path.basename(path)}", int(info.get("size") or 0), sub == "tmp"))
    return old
