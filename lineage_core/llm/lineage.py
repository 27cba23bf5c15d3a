"""Where an LLM call sits in the lineage: the child of the step that made it.

Every call (hit or miss) is recorded as a run whose OpenLineage ``parent`` is the current step's run, so a
step's page lists the prompts its answer came from. The current step is, in order:

1. ``current_run_context()["step"]`` (``{"run_id", "namespace", "name"}``): what an entry point sets around
   the step's body — the hook ``@cached`` should set (see docs/llm.md); it follows threads that copy the
   context;
2. until it does, the innermost ``@cached`` call computing on this thread's stack (its run id, job and
   namespace are read from the ``CachedFunction._miss`` frame);
3. else the orchestrator's run the context names (``parent``: an Airflow or KFP task);
4. else none: the call is a top-level run.

The step's own parent becomes the child's ``root`` (or stays its root when it has one), so Marquez draws
task -> step -> call.
"""

from __future__ import annotations

import sys
from types import CodeType
from typing import Any

from ..context import current_run_context

_MISS_CODE: list[CodeType] = []


def _miss_code() -> CodeType:
    if not _MISS_CODE:
        from ..cache import CachedFunction  # the one entry point whose frames we recognise

        _MISS_CODE.append(CachedFunction._miss.__code__)
    return _MISS_CODE[0]


def _step_on_stack() -> dict[str, Any] | None:
    """The innermost ``@cached`` step computing on this thread (a miss running the function), or None."""
    code = _miss_code()
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code is code:
            local = frame.f_locals
            step, run_id, manifest = local.get("self"), local.get("run_id"), local.get("manifest")
            if step is not None and isinstance(run_id, str) and manifest is not None:
                return {"run_id": run_id, "namespace": manifest.scope, "name": step.name}
        frame = frame.f_back  # type: ignore[assignment]
    return None


def current_step() -> dict[str, Any] | None:
    """The step run an LLM call made now belongs to (see the module docstring), or None."""
    step = current_run_context().get("step")
    if isinstance(step, dict) and step.get("run_id"):
        return step
    return _step_on_stack()


def child_context(facet: dict[str, Any], step: dict[str, Any] | None) -> dict[str, Any]:
    """The run context of an LLM call: the current context, its parent the step (when there is one), and the
    call's ``llm`` facet (model, usage, latency, cost; on a hit what it saved)."""
    ctx = {k: v for k, v in current_run_context().items() if k != "step"}
    if step is not None:
        outer = ctx.get("parent")
        parent = {"run_id": step["run_id"], "namespace": step["namespace"], "name": step["name"]}
        if isinstance(outer, dict) and outer.get("run_id"):
            root = outer.get("root") or {k: outer[k] for k in ("run_id", "namespace", "name") if k in outer}
            parent["root"] = root
        ctx["parent"] = parent
    ctx["llm"] = facet
    return ctx
