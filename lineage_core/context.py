"""Who is running a step (plain Python, an Airflow task, a KFP task) — recorded on the run, never
part of the key: the same step from any orchestrator is one cache entry.

Keys the OpenLineage events read: ``orchestrator`` (the job type's integration), ``parent`` (``run_id``,
``namespace``, ``name``, ``root``: the orchestrator's run the step belongs to) and ``datasets``
(``{"inputs": [uri], "outputs": [uri]}``: locations the orchestrator reads and writes around the step, such
as KFP's artifacts, reported next to the step's own inputs and output)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_RUN_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("lineage_run_context", default=None)


def current_run_context() -> dict[str, Any]:
    return _RUN_CONTEXT.get() or {"orchestrator": "python"}


@contextlib.contextmanager
def run_context(**info: Any) -> Iterator[None]:
    """Adapters wrap a task in this so its runs record ``orchestrator=airflow, dag_id=...``."""
    token = _RUN_CONTEXT.set({**current_run_context(), **info})
    try:
        yield
    finally:
        _RUN_CONTEXT.reset(token)
