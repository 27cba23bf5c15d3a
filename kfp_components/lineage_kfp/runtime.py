"""What runs inside a cached component's container: resolve references, consult the cache, write the result."""

from __future__ import annotations

import importlib
import json
import uuid
from typing import Any


def _target(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    wrapper = getattr(obj, "python_func", obj)  # the KFP component object -> our wrapper
    return getattr(wrapper, "__lineage_func__", wrapper)


def _parent(info: dict[str, str]) -> dict[str, Any] | None:
    """The pipeline run as the OpenLineage parent of the task's run (when KFP gives it a UUID)."""
    try:
        run_id = str(uuid.UUID(info["lineage_pipeline_run"]))
    except (ValueError, KeyError):
        return None
    return {"run_id": run_id, "namespace": "kfp", "name": info["lineage_pipeline"], "root": None}


def run(module: str, qualname: str, params: dict[str, Any], refs: dict[str, Any], result: Any,
        options: dict[str, Any], info: dict[str, str]) -> None:
    from lineage_core import cached, explain
    from lineage_core.context import run_context
    from lineage_core.keys import short
    from lineage_core.refs import ArtifactRef

    func = _target(module, qualname)
    args = dict(params)
    for name, artifact in refs.items():
        with open(artifact.path, encoding="utf-8") as f:
            args[name] = ArtifactRef.from_dict(json.load(f))
    step = cached(**options)(func)
    context = {"orchestrator": "kfp", "pipeline": info["lineage_pipeline"],
               "pipeline_run_id": info["lineage_pipeline_run"], "task": info["lineage_task"]}
    parent = _parent(info)
    if parent:
        context["parent"] = parent
    with run_context(**context):
        ref = step.ref(**args)
    outcome = explain(step)
    if outcome.hit:
        print(f"cache hit: key {short(outcome.key)} from run {outcome.source_run_id}; {qualname} did not run")
    else:
        print(f"cache miss: key {short(outcome.key)}: {'; '.join(outcome.reasons)}")
    with open(result.path, "w", encoding="utf-8") as f:
        json.dump({**ref.to_dict(), "lineage_run_id": outcome.run_id}, f)
    result.metadata.update({"hash": ref.hash, "materializer": ref.materializer, "uri": ref.uri,
                            "cache": "hit" if outcome.hit else "miss", "lineage_run_id": outcome.run_id})
