"""The dashboard's stats, as Marquez 0.51's StatsDao counts them, on both backends: lineage events by type per
hour (DAY) or day (WEEK) in the caller's time zone, and running totals of jobs, datasets and sources; with
Marquez's labels (a WEEK day's local midnight written as UTC, which its web UI reads back in UTC)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from lineage_core.cache import default_store
from lineage_core.errors import ConfigError
from lineage_core.openlineage import stats
from lineage_core.openlineage.ingest import ingest

pytestmark = pytest.mark.usefixtures("backend")
RUN = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
NOW = dt.datetime(2026, 11, 22, 10, 30, tzinfo=dt.timezone.utc).timestamp()


def event(kind: str, when: str, job: str = "j", n: int = 1, source: str | None = None) -> dict[str, Any]:
    facets = {"dataSource": {"_producer": "x", "_schemaURL": "x", "name": source}} if source else {}
    return {"eventType": kind, "eventTime": when, "producer": "https://x", "schemaURL": RUN,
            "run": {"runId": f"0190b1a0-0000-7000-8000-{n:012d}"}, "job": {"namespace": "ns", "name": job},
            "inputs": [], "outputs": [{"namespace": "s3://b", "name": f"{job}.out", "facets": facets}]}


@pytest.fixture
def seeded(backend: str) -> None:
    ingest(default_store(), [
        event("START", "2026-11-10T12:00:00Z", job="old", n=9),  # before every interval: in every total
        event("START", "2026-11-21T10:00:00Z", n=1),  # 24.5 h before NOW: outside DAY, inside WEEK
        event("FAIL", "2026-11-22T08:05:00Z", n=1),
        event("START", "2026-11-22T09:10:00Z", job="k", n=2, source="warehouse"),
        event("RUNNING", "2026-11-22T09:15:00Z", job="k", n=2),  # not charted
        event("COMPLETE", "2026-11-22T09:20:00Z", job="k", n=2),
        event("ABORT", "2026-11-22T10:29:00Z", job="late", n=3),
        event("START", "2026-11-21T23:30:00Z", job="night", n=4),  # 00:30 on the 22nd in Berlin
    ])


@pytest.mark.usefixtures("seeded")
def test_day_counts_events_per_hour_in_marquez_shape() -> None:
    day = stats.lineage_events(default_store(), "DAY", None, now=NOW)
    assert len(day) == 24 and day[0]["startInterval"] == "2026-11-21T11:00:00Z"
    assert day[-1] == {"startInterval": "2026-11-22T10:00:00Z", "endInterval": "2026-11-22T11:00:00Z",
                       "fail": 0, "start": 0, "complete": 0, "abort": 1}
    by_hour = {b["startInterval"][11:13]: b for b in day}
    assert (by_hour["08"]["fail"], by_hour["09"]["start"], by_hour["09"]["complete"]) == (1, 1, 1)
    assert by_hour["23"]["start"] == 1 and sum(b["start"] for b in day) == 2  # 11-21 10:00 is outside
    india = stats.lineage_events(default_store(), "DAY", "Asia/Kolkata", now=NOW)  # UTC+05:30: hours at :30
    assert india[-1]["startInterval"] == "2026-11-22T10:30:00Z" and india[-2]["abort"] == 1


@pytest.mark.usefixtures("seeded")
def test_week_counts_local_days_labelled_as_marquez_labels_them() -> None:
    utc = stats.lineage_events(default_store(), "WEEK", "UTC", now=NOW)
    assert [b["startInterval"] for b in utc] == [f"2026-11-{d}T00:00:00Z" for d in range(16, 23)]
    assert utc[-1]["endInterval"] == "2026-11-23T00:00:00Z"
    assert (utc[-2]["start"], utc[-1]["start"], utc[-1]["fail"], utc[-1]["complete"]) == (2, 1, 1, 1)
    berlin = stats.lineage_events(default_store(), "WEEK", "Europe/Berlin", now=NOW)
    assert [b["startInterval"] for b in berlin] == [b["startInterval"] for b in utc]
    assert (berlin[-2]["start"], berlin[-1]["start"]) == (1, 2)  # the night's START is on the 22nd in Berlin


@pytest.mark.usefixtures("seeded")
def test_jobs_datasets_and_sources_are_running_totals() -> None:
    store = default_store()
    jobs = stats.totals(store, "jobs", "WEEK", "UTC", now=NOW)
    assert [b["count"] for b in jobs] == [1, 1, 1, 1, 1, 3, 5]  # old; then j, night; then k, late
    assert set(jobs[0]) == {"startInterval", "endInterval", "count"}
    assert [b["count"] for b in stats.totals(store, "datasets", "WEEK", "UTC", now=NOW)] == [1, 1, 1, 1, 1, 3, 5]
    day = stats.totals(store, "jobs", "DAY", "UTC", now=NOW)
    assert day[0]["count"] == 2 and day[12]["count"] == 3 and day[-1]["count"] == 5  # old, j; night at 23:00
    assert [b["count"] for b in stats.totals(store, "sources", "WEEK", "UTC", now=NOW)][-3:] == [1, 1, 2]


def test_refusals_name_what_is_wrong(backend: str) -> None:
    store = default_store()
    with pytest.raises(ConfigError, match="Timezone must be specified for period 'WEEK'"):
        stats.lineage_events(store, "WEEK", None)
    with pytest.raises(ConfigError, match="period must be one of DAY, WEEK"):
        stats.totals(store, "jobs", "MONTH", "UTC")
    with pytest.raises(ConfigError, match="not a known IANA time zone"):
        stats.totals(store, "jobs", "DAY", "Mars/Olympus")
    assert [b["count"] for b in stats.totals(store, "sources", "DAY", None)] == [0] * 24  # an empty store
    assert len(stats.totals(store, "jobs", "week", "UTC")) == 7  # the period in any case, as Marquez reads it
