"""Who is running a step (plain Python, an Airflow task, a KFP task) — recorded on the run, never
part of the key: the same step from any orchestrator is one cache entry.

Keys the OpenLineage events read: ``orchestrator`` (the job type's integration), ``parent`` (``run_id``,
``namespace``, ``name``, ``root``: the orchestrator's run the step belongs to) and ``datasets``
(``{"inputs": [uri], "outputs": [uri]}``: locations the orchestrator reads and writes around the step, such
as KFP's artifacts, reported next to the step's own inputs and output).

Also whether the caller reports each call's outcome itself (:func:`outcome_reported_by_caller`), so that a task log
says ``cache hit``/``cache miss`` once, in the adapter's words."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_RUN_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("lineage_run_context", default=None)
_CALLER_REPORTS: ContextVar[bool] = ContextVar("lineage_caller_reports", default=False)


def current_run_context() -> dict[str, Any]:
    return _RUN_CONTEXT.get() or {"orchestrator": "python"}


@contextlib.contextmanager
def _holding(var: ContextVar[Any], value: Any) -> Iterator[None]:
    """``var`` is ``value`` in this block (this thread or task, and what it calls); nested blocks restore it."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


@contextlib.contextmanager
def run_context(**info: Any) -> Iterator[None]:
    """Adapters wrap a task in this so its runs record ``orchestrator=airflow, dag_id=...``: ``info`` over the
    context around the block, as it is when the block is entered."""
    with _holding(_RUN_CONTEXT, {**current_run_context(), **info}):
        yield


def outcome_reported_by_caller() -> contextlib.AbstractContextManager[None]:
    """The calls in this block have their hit logged by the caller (the Airflow operator's ``cache hit: key … from
    run … (dag.task, date)``): the core's own ``cache hit`` line is then not logged, which would say the same thing
    a second time in the task log. The ``cache miss`` line still is, before the step runs, so a step that fails or
    runs for hours has said why it recomputes; anything else the core logs (a discarded entry) still is too."""
    return _holding(_CALLER_REPORTS, True)


def nested_outcomes_logged() -> contextlib.AbstractContextManager[None]:
    """A step's body: the calls it makes (a nested cached step, an LLM call) log their own outcome lines again. The
    caller of :func:`outcome_reported_by_caller` reports the step it wraps, not what that step calls."""
    return _holding(_CALLER_REPORTS, False)


def core_logs_outcome() -> bool:
    """Whether the core logs a call's hit line (no :func:`outcome_reported_by_caller` around it)."""
    return not _CALLER_REPORTS.get()
