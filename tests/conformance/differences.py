"""The intended differences between `lineage serve` and Marquez 0.51.1, each with its reason (docs/marquez-
conformance.md lists the same). A difference is matched by the path the comparison names (``fnmatch`` pattern)
and, where given, both values, so it cannot hide anything else. Keep this list short: every entry is a place
where a Marquez user sees something else from us."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

ANY: Any = object()
ABSENT_VALUE = "<absent>"  # what the comparison shows for a key one side lacks (compare.ABSENT)


@dataclass(frozen=True)
class Difference:
    name: str
    where: str  # fnmatch pattern over the compared path, e.g. "run[*late_running*].state"
    reason: str
    ours: Any = ANY
    marquez: Any = ANY
    when: Callable[[Any, Any], bool] | None = None  # (ours, Marquez's) -> whether this difference is the one

    def explains(self, path: str, ours: Any, marquez: Any) -> bool:
        return (fnmatchcase(path, self.where) and (self.ours is ANY or self.ours == ours)
                and (self.marquez is ANY or self.marquez == marquez)
                and (self.when is None or self.when(ours, marquez)))


# Our dataset and job version UUIDs are not Marquez's (they are compared by their place in each history instead).
OWN_VERSION_UUIDS = False

_AS_SENT = "facets are served as the producer sent them; Marquez re-serialises standard facets through its model, " \
           "dropping null fields and the parts its model lacks (a parent facet's job facets)"

_TERMINAL = "COMPLETE, FAIL and ABORT are terminal (the spec); Marquez lets a later RUNNING reopen the run (state " \
            "RUNNING, startedAt the late event, a negative duration)"

DIFFERENCES: list[Difference] = [
    Difference("malformed JSON is a 400", "ingest[malformed_json].status",
               "Marquez answers 500 (its body says 400); a client error is never a 5xx here", ours=400, marquez=500),
    Difference("facets as sent: nulls", "*.facets.*", _AS_SENT, ours=None, marquez=ABSENT_VALUE),
    Difference("facets as sent: a parent's job facets", "*.facets.parent.job.facets", _AS_SENT, marquez=ABSENT_VALUE),
    Difference("events as sent", "events[*].event[*]", "the events page serves each event as it was sent; Marquez "
               "re-serialises it, adding every field its model knows as null", ours=ABSENT_VALUE, marquez=None),
    *[Difference("a late RUNNING never reopens a finished run", f"*states:late_running*.{field}", _TERMINAL)
      for field in ("state", "startedAt", "durationMs")],
]


def ingest_clock(started: str, ended: str) -> list[Difference]:
    """Marquez stamps some times with its wall clock while it ingests (a job's ``updatedAt`` after a RUNNING event,
    a dataset's ``updatedAt`` when a run writes it, and so search's): those are Marquez's values inside the window
    [started, ended] (normalised timestamps) in which the corpus was sent to it."""
    return [Difference("times are event times", "*.updatedAt", "every time we serve is an event's time, so a replay "
                       "of the same events answers the same; Marquez stamps some with the wall clock of its ingest",
                       when=lambda ours, marquez: isinstance(marquez, str) and started <= marquez <= ended)]


def unexplained(found: list[tuple[str, Any, Any]], extra: list[Difference]) -> list[tuple[str, Any, Any]]:
    known = DIFFERENCES + extra
    return [(p, a, b) for p, a, b in found if not any(d.explains(p, a, b) for d in known)]
