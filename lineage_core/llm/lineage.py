"""Where an LLM call sits in the lineage: the child of the step that made it.

Every call (hit or miss) is recorded as a run whose OpenLineage ``parent`` is the current step's run, so a
step's page lists the prompts its answer came from. The current step is, in order:

1. ``current_run_context()["step"]`` (``{"run_id", "namespace", "name"}``): what ``@cached`` sets around a
   computing step's body (``CachedFunction._miss``), so it follows the threads and tasks that copy the context
   (``contextvars.copy_context()``, asyncio tasks);
2. else the orchestrator's run the context names (``parent``: an Airflow or KFP task);
3. else none: the call is a top-level run.

The step's own parent becomes the child's ``root`` (or stays its root when it has one), so Marquez draws
task -> step -> call.
"""

from __future__ import annotations

from typing import Any

from ..context import current_run_context


def current_step() -> dict[str, Any] | None:
    """The step run an LLM call made now belongs to (see the module docstring), or None."""
    step = current_run_context().get("step")
    return step if isinstance(step, dict) and step.get("run_id") else None


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
