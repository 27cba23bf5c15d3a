"""The vocabulary of the run lifecycle: run states, OpenLineage event types and emit phases.

A leaf module (no imports of ours) so that the emitter and event building, which :mod:`lineage_core.runs`
itself uses, can share it; everyone else imports these from :mod:`lineage_core.runs`.
"""

from __future__ import annotations

from enum import Enum


class RunStatus(str, Enum):
    """A run's state as stored in ``runs.status`` (the strings are the schema; do not rename)."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CACHED = "CACHED"  # a hit: completed without running, ``source_run_id`` names the producer
    FAILED = "FAILED"
    ABORTED = "ABORTED"  # interrupted, or abandoned when its lease expired

    @property
    def finished(self) -> bool:
        return self is not RunStatus.RUNNING

    @property
    def succeeded(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.CACHED)

    @property
    def event_type(self) -> EventType:
        """The OpenLineage event that ends a run in this state (``START`` for a running one)."""
        return _TERMINAL[self]


class EventType(str, Enum):
    """OpenLineage run event types (the spec's ``eventType``)."""

    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAIL = "FAIL"
    ABORT = "ABORT"
    OTHER = "OTHER"

    @property
    def terminal(self) -> bool:
        return self in (EventType.COMPLETE, EventType.FAIL, EventType.ABORT)


class Phase(str, Enum):
    """Which of a stored run's events to emit: its START, its terminal event, or both (a hit)."""

    START = "start"
    END = "end"
    ALL = "all"


_TERMINAL = {
    RunStatus.RUNNING: EventType.START, RunStatus.COMPLETED: EventType.COMPLETE, RunStatus.CACHED: EventType.COMPLETE,
    RunStatus.FAILED: EventType.FAIL, RunStatus.ABORTED: EventType.ABORT,
}
