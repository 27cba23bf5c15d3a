"""Run metrics: a step's scalar results (a loss, an accuracy) recorded with its run, so runs can be compared.

Three ways in, one record: a step cached with ``metrics=True`` whose result is a ``dict[str, float]``;
:func:`log_metric` called while a step runs (a context-local collector that the cached call opens around the
function, so nested steps and concurrent tasks each keep their own); and a KFP component's ``Output[Metrics]``
(the adapter logs each of its entries). They are written with the run when it finishes — a FAILED or ABORTED run
too, with what it logged before it stopped — under ``"metrics"`` in the run's ``context`` (the run row is the one
record of a run: no table of their own, no second write).

A metric is a name (1..200 characters) and a finite real number; anything else is a :class:`MetricError` that
says what was wrong, raised where the bad value was given (a step whose result is not a metrics dict fails
before its value is stored). A CACHED run computed nothing: its metrics are its source run's, resolved when
the run is read (:func:`run_metrics`), never copied on the hit path.

Not here: the ``lineage_metrics`` OpenLineage facet (``openlineage/facets.py``), the CLI (``cli/runs_cmd.py``,
``cli/compare_cmd.py``).
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import LineageError, RunNotFoundError
from .status import RunStatus

if TYPE_CHECKING:
    from .store import CacheStore

__all__ = ["MetricError", "check_metric", "collect", "log_metric", "metrics_of", "run_metrics", "with_metrics"]

log = logging.getLogger("lineage_core")
MAX_NAME = 200
MAX_METRICS = 1000  # per run: metrics are a summary, not a time series
KEY = "metrics"  # where they live in a run's context
T = TypeVar("T")

_COLLECTOR: ContextVar[dict[str, float] | None] = ContextVar("lineage_metrics", default=None)
_warned_outside = False


class MetricError(LineageError, ValueError):
    """A metric name or value that cannot be recorded (not a finite real number, an empty or overlong name), or a
    ``metrics=True`` step whose result is not a ``dict[str, float]``."""


def check_metric(name: object, value: object) -> tuple[str, float]:
    """``(name, float(value))``, or :class:`MetricError` naming the metric and what is wrong with it. ``bool``
    is refused (a flag is not a measurement); numpy scalars and other ``numbers.Real`` are accepted."""
    if not isinstance(name, str) or not name.strip():
        raise MetricError(f"a metric name must be a non-empty string, not {name!r}")
    if len(name) > MAX_NAME:
        raise MetricError(f"metric name {name[:40]!r}… is {len(name)} characters long (at most {MAX_NAME})")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MetricError(f"metric {name!r} is a {type(value).__qualname__} ({_show(value)}): a metric is a real "
                          "number (int or float)")
    number = float(value)
    if not math.isfinite(number):
        raise MetricError(f"metric {name!r} is {number}: a metric must be finite (not NaN or infinite)")
    return name, number


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def log_metric(name: str, value: float) -> float:
    """Record ``name = value`` as a metric of the step now running (the last value logged under a name is the
    run's); returns the value as recorded. Bad input is a :class:`MetricError` wherever this is called. Outside a
    cached step (or with ``LINEAGE_DISABLED``) there is no run to record it with: it is dropped, said once."""
    global _warned_outside
    name, number = check_metric(name, value)
    collected = _COLLECTOR.get()
    if collected is None:
        if not _warned_outside:
            _warned_outside = True
            log.info("log_metric(%r) outside a cached step: no run records it (this is said once)", name)
        return number
    if name not in collected and len(collected) >= MAX_METRICS:
        raise MetricError(f"metric {name!r}: a run records at most {MAX_METRICS} metrics")
    collected[name] = number
    return number


def from_result(value: object, step: str) -> dict[str, float]:
    """The metrics a ``metrics=True`` step returned: its result must be a mapping of names to numbers."""
    if not isinstance(value, Mapping):
        raise MetricError(f"{step} is cached with metrics=True, so it must return a dict of metric name to number; "
                          f"it returned a {type(value).__qualname__}")
    if len(value) > MAX_METRICS:
        raise MetricError(f"{step} returned {len(value)} metrics: a run records at most {MAX_METRICS}")
    try:
        return dict(check_metric(k, v) for k, v in value.items())
    except MetricError as e:
        raise MetricError(f"{step} (metrics=True) returned a bad metric: {e}") from None


def collect(invoke: Callable[[], T], step: str, returned: bool = False,
            into: dict[str, float] | None = None) -> tuple[T, dict[str, float]]:
    """Run ``invoke`` with a metrics collector of its own; returns its value and the metrics it logged (and, with
    ``returned``, the ones it returned, which win over logged ones of the same name). ``into``: the dict to collect
    in, which keeps what was logged before ``invoke`` raised (a failed run records the loss it reached)."""
    collected: dict[str, float] = {} if into is None else into
    token = _COLLECTOR.set(collected)
    try:
        value = invoke()
    finally:
        _COLLECTOR.reset(token)
    if returned:
        collected.update(from_result(value, step))
    return value, collected


def with_metrics(context: Mapping[str, Any] | None, metrics: Mapping[str, float]) -> dict[str, Any]:
    """A run's context with its metrics recorded in it."""
    return {**(context or {}), KEY: dict(metrics)}


def metrics_of(run: Mapping[str, Any]) -> dict[str, float]:
    """The metrics recorded on this run row itself (a CACHED run has none of its own: see :func:`run_metrics`).
    Values that are not finite numbers (a row written by hand) are left out, never shown as metrics."""
    recorded = (run.get("context") or {}).get(KEY) or {}
    if not isinstance(recorded, Mapping):
        return {}
    out: dict[str, float] = {}
    for name, value in recorded.items():
        try:
            out.update([check_metric(name, value)])
        except MetricError:
            continue
    return out


def run_metrics(store: CacheStore, run: Mapping[str, Any], sources: dict[str, dict[str, float]] | None = None
                ) -> dict[str, float]:
    """A run's metrics: its own, or a CACHED run's source run's (the run that computed the value it served; gc
    hands them to the hit before that run goes); ``sources`` caches source runs' metrics across calls (a listing)."""
    source = run.get("source_run_id")
    own = metrics_of(run)
    if run.get("status") != RunStatus.CACHED.value or not source or own:
        return own
    if sources is not None and source in sources:
        return dict(sources[source])
    try:
        found = metrics_of(store.get_run(source))
    except RunNotFoundError:
        found = {}
    if sources is not None:
        sources[source] = found
    return dict(found)


def with_run_metrics(store: CacheStore, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run rows (a listing or one run) each with ``metrics`` (:func:`run_metrics`); a source run listed among
    them is not read again, the others are read together where the store can (``Store.runs_by_id``)."""
    rows = list(rows)
    sources = {r["id"]: metrics_of(r) for r in rows if r.get("status") != RunStatus.CACHED.value}
    missing = {r["source_run_id"] for r in rows if r.get("status") == RunStatus.CACHED.value
               and r.get("source_run_id") and r["source_run_id"] not in sources}
    fetch = getattr(store, "runs_by_id", None)
    if missing and fetch is not None:
        sources.update({r["id"]: metrics_of(r) for r in fetch(sorted(missing))})
        sources.update({m: {} for m in missing if m not in sources})  # gone (their hits may hold them themselves)
    return [{**r, KEY: run_metrics(store, r, sources)} for r in rows]
