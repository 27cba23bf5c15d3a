"""What runs inside a cached component's container: resolve inputs, consult the cache, write the outputs.

The run is recorded with the pipeline run it belongs to (the OpenLineage parent, so Marquez shows the tasks
under their pipeline run) and with the KFP artifacts it read and wrote as datasets, so the events of one
pipeline run form one graph.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

from lineage_core import cached, explain, settings
from lineage_core.context import run_context
from lineage_core.ids import run_uuid
from lineage_core.keys import short
from lineage_core.refs import ArtifactRef

from .outputs import OutputsStep, publish


def _target(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    wrapper = getattr(obj, "python_func", obj)  # a KFP component object -> our wrapper
    return getattr(wrapper, "__lineage_func__", wrapper)


def _context(info: dict[str, str], options: dict[str, Any], inputs: list[Any], outputs: list[Any]) -> dict[str, Any]:
    context: dict[str, Any] = {"orchestrator": "kfp",
                               "datasets": {"inputs": [a.uri for a in inputs], "outputs": [a.uri for a in outputs]}}
    if info:
        context.update(pipeline=info["lineage_pipeline"], pipeline_run_id=info["lineage_pipeline_run"],
                       task=info["lineage_task"])
        namespace = settings.namespace(options.get("namespace"))
        # KFP's run id is a UUID on a cluster; kfp.local's is a number: name-based UUID, as Marquez derives one
        context["parent"] = {"run_id": run_uuid(info["lineage_pipeline_run"]), "namespace": namespace,
                             "name": info["lineage_pipeline"], "root": None}
    return context


def _warn_if_ephemeral() -> None:
    """A pod with no store setting caches into its own filesystem, which is gone when the pod is: every run
    would be a miss and nobody would be told why."""
    if not os.environ.get("LINEAGE_STORE_URL") and not os.environ.get("LINEAGE_HOME"):
        print("lineage-core: WARNING: no LINEAGE_STORE_URL in this task: its cache and run records stay in the "
              "container and are lost with it (every run will be a miss). Give the component store_secret=..., "
              "or lineage_server_url=... with token_secret=... and server_store=True.", file=sys.stderr)


def _report(outcome: Any, qualname: str) -> None:
    if outcome.hit:
        print(f"cache hit: key {short(outcome.key)} from run {outcome.source_run_id}; {qualname} did not run")
    else:
        print(f"cache miss: key {short(outcome.key)}: {'; '.join(outcome.reasons)}")


def run(module: str, qualname: str, options: dict[str, Any], info: dict[str, str], *, params: dict[str, Any],
        refs: dict[str, Any], artifacts: dict[str, Any], outputs: dict[str, Any], result: Any) -> Any:
    """The body of every cached component (called by the generated wrapper with KFP's objects)."""
    _warn_if_ephemeral()
    func = _target(module, qualname)
    args = dict(params)
    for name, artifact in refs.items():
        with open(artifact.path, encoding="utf-8") as f:
            args[name] = ArtifactRef.from_dict(json.load(f))
    args.update(artifacts)
    written = [*outputs.values(), *([result] if result is not None else [])]
    context = _context(info, options, [*refs.values(), *artifacts.values()], written)
    if result is None:
        step: Any = OutputsStep(func, outputs, **options)
        with run_context(**context):
            bundle = step(**args, **outputs)
        outcome = explain(step)
        _report(outcome, qualname)
        lineage = {"lineage_cache": "hit" if outcome.hit else "miss", "lineage_run_id": outcome.run_id,
                   "lineage_key": outcome.key}
        return publish(bundle, outputs, outcome.hit, lineage)
    step = cached(**options)(func)
    with run_context(**context):
        ref = step.ref(**args)
    outcome = explain(step)
    _report(outcome, qualname)
    with open(result.path, "w", encoding="utf-8") as f:
        json.dump({**ref.to_dict(), "lineage_run_id": outcome.run_id}, f)
    result.metadata.update({"hash": ref.hash, "materializer": ref.materializer, "uri": ref.uri,
                            "cache": "hit" if outcome.hit else "miss", "lineage_run_id": outcome.run_id})
    return None
