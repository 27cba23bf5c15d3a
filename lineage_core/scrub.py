"""A scrub of the artifact store (``lineage cache verify``): re-hash the blobs live entries hold, in full and
trusting no stat, and tombstone the entries whose blobs are damaged, so bit rot that no stat sees is found
before a hit would have served it (a hit verifies too, but a large local blob is vouched for by its stat).

A tree (a directory output) is one artifact whose members are blobs of their own: all are checked, and a bad
member tombstones the tree's entries. ``sample`` checks a fraction of the artifacts, chosen at random
(reproducibly with ``seed``): ``ceil(sample * n)`` of them.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .store import Store

Progress = Callable[[int, int], None]  # (blobs done, blobs total)
_HASH = re.compile(r"blake3:[0-9a-f]{64}")  # what names a blob (anything else never becomes a path)


@dataclass
class Finding:
    artifact: str  # the artifact an entry holds
    blob: str  # the damaged blob: the artifact itself or one of its tree's members
    problem: str
    tombstoned: int  # live entries tombstoned for it


@dataclass
class ScrubReport:
    artifacts: int  # live artifacts in the store
    checked: int  # of them, checked
    blobs: int  # blobs re-hashed (artifacts and tree members, each once)
    bytes: int
    tombstoned: int
    sample: float
    seed: int | None
    bad: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scrub(store: Store, sample: float = 1.0, seed: int | None = None, progress: Progress | None = None) -> ScrubReport:
    """Re-hash (a sample of) the live artifacts and their tree members; tombstone the entries of bad ones."""
    if not 0.0 <= sample <= 1.0:
        raise ConfigError(f"--sample {sample!r}: the fraction of artifacts to check must be between 0 and 1")
    live = store.live_artifacts()
    rng = random.Random(seed)  # noqa: S311 - which artifacts to check, not a secret
    chosen = rng.sample(live, math.ceil(sample * len(live))) if sample < 1 else live
    chosen.sort(key=lambda a: a["hash"])
    members: dict[str, list[str]] = {}
    for a in chosen:
        meta = a["meta"] if isinstance(a["meta"], dict) else {}
        if meta.get("kind") == "tree" and isinstance(meta.get("members"), list):
            members[a["hash"]] = [str(m) for m in meta["members"]]
    total = len({a["hash"] for a in chosen} | {m for ms in members.values() for m in ms})
    report = ScrubReport(len(live), len(chosen), 0, 0, 0, sample, seed)
    seen: dict[str, str | None] = {}

    def check(digest: str, size: int | None) -> str | None:
        if not _HASH.fullmatch(digest):
            return f"{digest[:80]!r} is not a content hash"
        if digest not in seen:
            def count(n: int) -> None:
                report.bytes += n

            seen[digest] = store.artifacts.verify_blob(digest, size, count)
            report.blobs += 1
            if progress is not None:
                progress(report.blobs, total)
        return seen[digest]

    for art in chosen:
        bad = [(art["hash"], p)] if (p := check(art["hash"], art["size"])) else []
        bad += [(m, p) for m in members.get(art["hash"], []) if (p := check(m, None))]
        if bad:
            n = store.tombstone_artifact(art["hash"])
            report.tombstoned += n
            report.bad += [Finding(art["hash"], blob, problem, n) for blob, problem in bad]
    return report
