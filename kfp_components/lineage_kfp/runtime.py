"""What runs inside a cached component's container: resolve inputs, consult the cache, write the outputs.

The run is recorded with the pipeline run it belongs to (the OpenLineage parent, so Marquez shows the tasks
under their pipeline run) and with the KFP artifacts it read and wrote as datasets, so the events of one
pipeline run form one graph.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from lineage_core import cached, explain
from lineage_core.integration import Settings, outcome_reported_by_caller, run_context, run_uuid, short, use_settings

from .outputs import OutputsStep, publish


def _target(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    wrapper = getattr(obj, "python_func", obj)  # a KFP component object -> our wrapper
    return getattr(wrapper, "__lineage_func__", wrapper)


def _context(info: dict[str, str], options: dict[str, Any], inputs: list[Any], outputs: list[Any],
             settings: Settings) -> dict[str, Any]:
    context: dict[str, Any] = {"orchestrator": "kfp",
                               "datasets": {"inputs": [a.uri for a in inputs], "outputs": [a.uri for a in outputs]}}
    if info:
        context.update(pipeline=info["lineage_pipeline"], pipeline_run_id=info["lineage_pipeline_run"],
                       task=info["lineage_task"])
        namespace = options.get("namespace") or settings.namespace
        # KFP's run id is a UUID on a cluster; kfp.local's is a number: name-based UUID, as Marquez derives one
        context["parent"] = {"run_id": run_uuid(info["lineage_pipeline_run"]), "namespace": namespace,
                             "name": info["lineage_pipeline"], "root": None}
    return context


def _warn_if_ephemeral(settings: Settings | None = None) -> None:
    """A pod with no store setting caches into its own filesystem, which is gone when the pod is: every run
    would be a miss and nobody would be told why."""
    s = settings or Settings.current()
    if s.store_url is None and s.home == Settings().home and not s.disabled:
        print("lineage-core: WARNING: no LINEAGE_STORE_URL in this task: its cache and run records stay in the "
              "container and are lost with it (every run will be a miss). Give the component store_secret=..., "
              "or lineage_server_url=... with token_secret=... and server_store=True.", file=sys.stderr)


def _report(outcome: Any, qualname: str) -> None:
    if outcome.hit:
        print(f"{outcome.reasons[0]}; {qualname} did not run")  # the core's hit reason (a concurrent wait too)
    else:
        print(f"cache miss: key {short(outcome.key)}: {'; '.join(outcome.reasons)}")


def run(module: str, qualname: str, options: dict[str, Any], info: dict[str, str], *, params: dict[str, Any],
        refs: dict[str, Any], artifacts: dict[str, Any], outputs: dict[str, Any], result: Any) -> Any:
    """The body of every cached component (called by the generated wrapper with KFP's objects)."""
    settings = Settings.current()  # the task's environment, read once
    options = dict(options)
    resources = options.pop("resources", None)  # the task's GPUs (not key material): on its runs' context
    _warn_if_ephemeral(settings)
    func = _target(module, qualname)
    allow_pickle = bool(options.get("pickle", False))
    args = dict(params)
    if refs:
        from .values import read_result  # an upstream result by reference (most tasks of a cached chain)

        args.update({name: read_result(artifact.path, allow_pickle=allow_pickle) for name, artifact in refs.items()})
    args.update(artifacts)
    written = [*outputs.values(), *([result] if result is not None else [])]
    context = _context(info, options, [*refs.values(), *artifacts.values()], written, settings)
    if resources:
        context["resources"] = resources
    with use_settings(settings), run_context(**context), outcome_reported_by_caller():  # _report says it
        if result is None:
            return _run_outputs(func, qualname, options, args, outputs, settings)
        from .values import write_ref, write_value  # a result artifact: a reference, or the plain value

        step = cached(**options)(func)
        by_reference = step.passes_by_reference
        if by_reference:
            ref = step.ref(**args)
        else:  # the null path: the value itself in `result`, as a plain component would write its output
            value = step(**args)
            materializer = write_value(result.path, value, step=step.name, allow_pickle=allow_pickle)
    if step.last is None:
        print(f"lineage-core is disabled (LINEAGE_DISABLED): {qualname} ran, nothing was recorded")
        result.metadata.update({"materializer": materializer, "cache": "disabled"})
        return None
    outcome = explain(step)
    _report(outcome, qualname)
    cache = "hit" if outcome.hit else "miss"
    if not by_reference:
        result.metadata.update({"materializer": materializer, "cache": cache, "lineage_run_id": outcome.run_id})
        return None
    write_ref(result.path, ref, outcome.run_id)
    result.metadata.update({"hash": ref.hash, "materializer": ref.materializer, "uri": ref.uri, "cache": cache,
                            "lineage_run_id": outcome.run_id})
    return None


def _run_outputs(func: Any, qualname: str, options: dict[str, Any], args: dict[str, Any], outputs: dict[str, Any],
                 settings: Settings) -> Any:
    """A function that writes KFP output artifacts: cached as one bundle (see lineage_kfp.outputs)."""
    if settings.disabled:  # the null path: the function writes its outputs itself, as in a plain component
        print(f"lineage-core is disabled (LINEAGE_DISABLED): {qualname} runs, nothing is recorded")
        return OutputsStep(func, outputs, **options)(**args, **outputs)
    step = OutputsStep(func, outputs, **options)
    bundle = step(**args, **outputs)
    outcome = explain(step)
    _report(outcome, qualname)
    lineage = {"lineage_cache": "hit" if outcome.hit else "miss", "lineage_run_id": outcome.run_id,
               "lineage_key": outcome.key}
    return publish(bundle, outputs, outcome.hit, lineage)
