"""What the last call of a cached function did: :class:`Outcome` (``lineage_core.cache.explain`` returns it)."""

from __future__ import annotations

from dataclasses import field

from .records import record


@record(frozen=False)
class Outcome:
    """What happened on the last call of a cached function (see :func:`explain`)."""

    hit: bool
    run_id: str
    key: str
    reasons: list[str] = field(default_factory=list)
    source_run_id: str | None = None
    job: str = ""

    def __init__(self, hit: bool, run_id: str, key: str, reasons: list[str] | None = None,
                 source_run_id: str | None = None, job: str = "") -> None:
        self.hit, self.run_id, self.key = hit, run_id, key
        self.reasons = [] if reasons is None else reasons
        self.source_run_id, self.job = source_run_id, job
