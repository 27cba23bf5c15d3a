"""The dashboard's charts: ``GET /api/v1/stats/{lineage-events,jobs,datasets,sources}?period=&timezone=``,
Marquez 0.51's shapes and counts (``StatsResource``, ``StatsDao``).

- ``period=DAY``: 24 hourly intervals, the last one the current hour; ``WEEK``: 7 daily intervals, the last one
  today. Hours and days are those of ``timezone`` (an IANA name; UTC if none is given for ``DAY``, required for
  ``WEEK``). Marquez truncates ``DAY``'s hours in its database's time zone, which is the same thing for every
  zone with a whole-hour offset.
- ``lineage-events``: per interval, the START, COMPLETE, FAIL and ABORT events whose event time falls in it;
  ``jobs``, ``datasets``, ``sources``: how many existed (were first seen, by event time) at its end.
- Times: ``DAY``'s bounds are instants (``2026-11-22T10:00:00Z``); ``WEEK``'s are each local day's date at
  ``T00:00:00Z`` — Marquez's database hands back the local midnight as if it were UTC, and its web UI prints
  those labels in UTC to get the local date back, so we send what it expects.
"""

from __future__ import annotations

import datetime as dt
import time
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError
from ..store.ol_stats import event_counts, running_totals
from .versions import instant

if TYPE_CHECKING:
    from ..store import Store

PERIODS = ("DAY", "WEEK")
Counted = Literal["jobs", "datasets", "sources"]


def zone(name: str | None) -> dt.tzinfo:
    """An IANA time zone (``UTC`` when none is named); ConfigError if there is no such zone."""
    if not name or name in ("UTC", "Etc/UTC", "Z"):
        return dt.timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone {name[:64]!r} is not a known IANA time zone") from None


def intervals(period: str, tz: dt.tzinfo, now: float | None = None) -> tuple[list[float], list[tuple[str, str]]]:
    """The interval bounds (epoch seconds) and their labels as Marquez prints them."""
    local = dt.datetime.fromtimestamp(time.time() if now is None else now, tz)
    period = period.upper()  # as Marquez (Jersey reads the enum's name in any case)
    if period == "DAY":
        hour = local.replace(minute=0, second=0, microsecond=0).timestamp()
        bounds = [hour - 3600 * (23 - i) for i in range(25)]
        return bounds, [(_label(a), _label(b)) for a, b in pairwise(bounds)]
    if period == "WEEK":
        days = [local.date() - dt.timedelta(days=6 - i) for i in range(8)]
        bounds = [dt.datetime.combine(d, dt.time(0), tz).timestamp() for d in days]
        return bounds, [(f"{a.isoformat()}T00:00:00Z", f"{b.isoformat()}T00:00:00Z") for a, b in pairwise(days)]
    raise ConfigError(f"period must be one of {', '.join(PERIODS)}")


def _label(ts: float) -> str:
    text = instant(ts)
    assert text is not None
    return text


def lineage_events(store: Store, period: str, timezone: str | None, now: float | None = None) -> list[dict[str, Any]]:
    if period.upper() == "WEEK" and not timezone:
        raise ConfigError("Timezone must be specified for period 'WEEK'")
    bounds, labels = intervals(period, zone(timezone), now)
    counts = event_counts(store, bounds)
    return [{"startInterval": a, "endInterval": b, "fail": n["FAIL"], "start": n["START"],
             "complete": n["COMPLETE"], "abort": n["ABORT"]} for (a, b), n in zip(labels, counts, strict=True)]


def totals(store: Store, what: Counted, period: str, timezone: str | None,
           now: float | None = None) -> list[dict[str, Any]]:
    bounds, labels = intervals(period, zone(timezone), now)
    return [{"startInterval": a, "endInterval": b, "count": n}
            for (a, b), n in zip(labels, running_totals(store, what, bounds), strict=True)]
