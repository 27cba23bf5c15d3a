"""The intended differences between `lineage serve` and Marquez 0.51.1, each with its reason (docs/marquez-
conformance.md lists the same). A difference is matched by the path the comparison names (``*`` a wildcard)
and, where given, both values, so it cannot hide anything else. Keep this list short: every entry is a place
where a Marquez user sees something else from us."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ANY: Any = object()
ABSENT_VALUE = "<absent>"  # what the comparison shows for a key one side lacks (compare.ABSENT)


@dataclass(frozen=True)
class Difference:
    name: str
    where: str  # the compared path; ``*`` matches anything (nothing else is special), e.g. "*:late_running*.state"
    reason: str
    ours: Any = ANY
    marquez: Any = ANY
    when: Callable[[Any, Any], bool] | None = None  # (ours, Marquez's) -> whether this difference is the one

    def explains(self, path: str, ours: Any, marquez: Any) -> bool:
        pattern = ".*".join(re.escape(part) for part in self.where.split("*"))
        return (re.fullmatch(pattern, path) is not None and (self.ours is ANY or self.ours == ours)
                and (self.marquez is ANY or self.marquez == marquez)
                and (self.when is None or self.when(ours, marquez)))


# Where Marquez shows a version's random row UUID (a dataset's and a job's ``currentVersion``, the dataset versions
# listing; two Marquez servers fed the same events disagree there), the version is compared by its place in its
# dataset's history instead (compare.Normaliser); the name-based UUIDs of a run's ``jobVersion`` and dataset
# versions and of the job versions listing are compared as they are.
VERSIONS_BY_PLACE = True

_AS_SENT = "facets are served as the producer sent them; Marquez re-serialises standard facets through its model, " \
           "dropping null fields and the parts its model lacks (a parent facet's job and run facets)"

_TERMINAL = "COMPLETE, FAIL and ABORT are terminal (the spec); Marquez lets a later RUNNING reopen the run (state " \
            "RUNNING, startedAt the late event, a negative duration)"

# Bad inputs Marquez takes and stores: sent to us only (each would be a job, a run and namespaces only Marquez has,
# everywhere the suite reads), and refused here.
STORED_BY_MARQUEZ = {
    "unknown_event_type": "an eventType outside the spec's enum (FINISHED): Marquez stores the event and its job; "
                          "we refuse it (422), as the spec's schema does",
}

DIFFERENCES: list[Difference] = [
    Difference("bad input is never a 5xx", "ingest[*].status", "Marquez answers 500 to a body it cannot read as an "
               "event (malformed JSON, an array, a string, an unparsable time); a client's error is a 4xx here",
               marquez=500, when=lambda ours, marquez: 400 <= ours < 500),
    Difference("bad input is never a 5xx: a nodeId", "lineage[*].status", "a nodeId Marquez reads as a NodeId but "
               "cannot split (`job:graph`, `run:nope`) is the client's error (400) here; Marquez throws (500)",
               ours=400, marquez=500),
    Difference("an empty body is malformed JSON", "ingest[empty_body].status",
               "an empty body is not JSON (400); Marquez's validator calls it a missing event (422)", ours=400,
               marquez=422),
    Difference("refusals in Marquez's JSON body", "stats[*].error.code", "every refusal here is Marquez's "
               "{code, message} JSON; Marquez answers a missing WEEK time zone in plain text", ours=400,
               marquez=ABSENT_VALUE),
    Difference("facets as sent: nulls", "*.facets.*", _AS_SENT, ours=None, marquez=ABSENT_VALUE),
    *[Difference("facets as sent: a parent's facets", f"*.facets.parent.{part}.facets", _AS_SENT, marquez=ABSENT_VALUE)
      for part in ("job", "run")],
    Difference("events as sent", "events[*].event[*]*", "the events page serves each event as it was sent; Marquez "
               "re-serialises it, adding every field its model knows as null", ours=ABSENT_VALUE, marquez=None),
    *[Difference("a late RUNNING never reopens a finished run", f"*states:late_running*.{field}", _TERMINAL)
      for field in ("state", "startedAt", "durationMs")],
]


# The corpus's jobs whose last event is a RUNNING: Marquez stamps their updatedAt with its wall clock, so it lists
# them first among jobs (most recently changed first), and reopens late_running's run
RUNNING_LAST = [["states", "late_running"], ["states", "running_only"]]
_LATE = [json.dumps(RUNNING_LAST[0])]
# The parent jobs Marquez writes again from a child's later event (the spec examples' parent facets name a run of
# another job: see docs/marquez-conformance.md): that upsert stamps updatedAt with its wall clock too
WRITTEN_AGAIN = [["spec-examples", "dbt-job-name"], ["spec-examples", "my_dag.my_task"]]
_WALL_CLOCK = RUNNING_LAST + WRITTEN_AGAIN


def _same_order_but_running_last(ours: Any, marquez: Any) -> bool:
    return [j for j in ours if j not in _WALL_CLOCK] == [j for j in marquez if j not in _WALL_CLOCK]


DIFFERENCES += [
    Difference("times are event times: job order", "*jobs.order", "jobs are listed most recently changed first; "
               "Marquez's wall-clock updatedAt of RUNNING_LAST's and WRITTEN_AGAIN's jobs puts them first",
               when=_same_order_but_running_last),
    Difference("a late RUNNING never reopens a finished run: listings", "jobs?lastRunStates=RUNNING.only", _TERMINAL,
               ours=[], marquez=_LATE),
    Difference("a late RUNNING never reopens a finished run: listings", "jobs?lastRunStates=COMPLETED.only", _TERMINAL,
               ours=_LATE, marquez=[]),
]


def marquez_clock(started: str, ended: str) -> list[Difference]:
    """Marquez stamps some times with its wall clock (the ``default`` namespace when it starts; a job's
    ``updatedAt`` after a RUNNING event, a dataset's when a run writes it, and so search's, while it ingests): those
    are Marquez's values inside [started, ended] (normalised timestamps), from its start to the corpus's end."""
    return [Difference("times are event times", f"*.{field}", "every time we serve is an event's time, so a replay "
                       "of the same events answers the same; Marquez stamps some with its wall clock",
                       when=lambda ours, marquez: isinstance(marquez, str) and started <= marquez <= ended)
            for field in ("createdAt", "updatedAt")]


def _streaming_start_version(ours: Any, marquez: Any) -> bool:
    """Marquez also lists a version its streaming run's START made, and ours is the one of the run's last event."""
    if not (isinstance(ours, list) and isinstance(marquez, list) and len(ours) == 1 and len(marquez) == 2):
        return False
    run = (ours[0].get("latestRun") or {}).get("id")
    return ours[0] in marquez and all((v.get("latestRun") or {}).get("id") == run for v in marquez)


DIFFERENCES += [
    Difference("a streaming run's versions: Marquez varies", "job[spec-examples:my_dag.my_task.example_2].versions."
               "versions", "Marquez 0.51.1 sometimes lists a second version for this streaming run, the one its START "
               "made (inputs only), and sometimes not, for the same events sent the same way (seen in 1 of 6 runs of "
               "the suite; its ingest finishes part of an event's work after answering); we list one version per "
               "run, that of its last event", when=_streaming_start_version),
]


# Not matched yet: NOT intended — issue 15 stays open until each is gone. Every entry is tied to the corpus story that
# shows it (by the names in the compared path or values), so a new difference anywhere else still fails.
GAPS: list[Difference] = []


def unexplained(found: list[tuple[str, Any, Any]], extra: list[Difference]) -> list[tuple[str, Any, Any]]:
    known = DIFFERENCES + GAPS + extra
    return [(p, a, b) for p, a, b in found if not any(d.explains(p, a, b) for d in known)]
