"""``@cached_component``: a KFP component around a function, cached by lineage-core.

Two ways to write the function, mixed freely:

* **As for ``lineage_core.cached``** (parameters in, a value out): plain-typed parameters become KFP
  parameters, any other type is an input artifact carrying an upstream component's result by reference,
  and the component's one output, ``result``, is a small JSON ``ArtifactRef`` (URI, content hash,
  materializer), never the data. Because the key is the core's (code, parameters, inputs by content,
  key-relevant packages), a step cached by an Airflow task with the same function and ``name=`` is a hit
  here too.
* **As a KFP component**: ``Input[Dataset]`` parameters are keyed by their content, ``Output[Model]`` /
  ``Output[Metrics]`` / … parameters are what the function writes, and a plain return type is a KFP output
  parameter. The cached value is everything the function wrote to its outputs (files, directories, artifact
  metadata) plus its return value; on a hit it is written back to the task's outputs and the function does
  not run.

Inside the task's container the cache is consulted first. The function must be importable in the
component's image (its module installed, as for any containerised component): the component body imports it
by module and name. Keep the pipeline in another module than the functions it runs: inside a task, KFP's
runtime ``kfp.dsl`` has no ``pipeline`` decorator.

Which pipeline run a task belongs to (for the run record and the OpenLineage parent) reaches the container
as three extra parameters defaulting to KFP's run placeholders (``lineage_pipeline``,
``lineage_pipeline_run``, ``lineage_task``); ``run_info=False`` leaves them out (see docs/kfp.md on what
they mean for KFP's own cache).
"""

from __future__ import annotations

import inspect
import json
import linecache
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, overload

from lineage_core.integration import CACHE_OPTIONS, ConfigError, ContainerTask, SignatureError

from .tasks import ConfiguredComponent, TaskSettings

_PARAMETER_TYPES = {int: "int", float: "float", str: "str", bool: "bool", dict: "dict", list: "list"}
_RUN_INFO = {"lineage_pipeline": "PIPELINE_JOB_NAME_PLACEHOLDER", "lineage_pipeline_run": "PIPELINE_JOB_ID_PLACEHOLDER",
             "lineage_task": "PIPELINE_TASK_NAME_PLACEHOLDER"}


@dataclass
class _Interface:
    """How the function's parameters map onto the component's inputs and outputs."""

    decls: list[str] = field(default_factory=list)  # the wrapper's parameter declarations
    params: list[str] = field(default_factory=list)  # KFP parameters, passed as they are
    refs: list[str] = field(default_factory=list)  # upstream results by reference (our ArtifactRef JSON)
    artifacts: list[str] = field(default_factory=list)  # KFP input artifacts, keyed by content
    outputs: list[str] = field(default_factory=list)  # KFP output artifacts the function writes
    returns: str | None = None  # the wrapper's return annotation (a KFP output parameter)
    by_reference: bool = True  # the result is one reference artifact, ``result``

    def call(self, func: Callable[..., Any], options: dict[str, Any], run_info: bool) -> str:
        def mapping(names: list[str]) -> str:
            return "{" + ", ".join(f"{n!r}: {n}" for n in names) + "}"

        info = mapping(list(_RUN_INFO)) if run_info else "{}"
        return (f"__import__('lineage_kfp.runtime').runtime.run({func.__module__!r}, {func.__qualname__!r}, "
                f"{options!r}, {info}, params={mapping(self.params)}, refs={mapping(self.refs)}, "
                f"artifacts={mapping(self.artifacts)}, outputs={mapping(self.outputs)}, "
                f"result={'result' if self.by_reference else 'None'})")


def _artifact_decl(name: str, hint: Any) -> tuple[str, str] | None:
    """("input"|"output", declaration) for an ``Input[X]``/``Output[X]`` annotation, else None."""
    from kfp import dsl
    from kfp.dsl.types import type_annotations as ta

    if not ta.is_Input_Output_artifact_annotation(hint):
        return None
    cls: Any = ta.get_io_artifact_class(hint)
    type_name = getattr(cls, "__name__", "")
    if getattr(dsl, type_name, None) is not cls:
        raise SignatureError(f"{name}: artifact type {cls!r} is not one of kfp.dsl's "
                             "(Artifact, Dataset, Model, Metrics, ClassificationMetrics, HTML, Markdown, …)")
    kind = "input" if ta.is_artifact_wrapped_in_Input(hint) else "output"
    return kind, f"{name}: {'Input' if kind == 'input' else 'Output'}[{type_name}]"


def _interface(func: Callable[..., Any]) -> _Interface:
    try:
        hints = inspect.get_annotations(func, eval_str=True)
    except Exception as e:  # noqa: BLE001 - any failure here is the user's annotation, named below
        raise SignatureError(f"{func.__qualname__}: its type annotations cannot be evaluated ({e}); KFP reads them "
                             "to build the component's interface") from None
    face = _Interface()
    for p in inspect.signature(func).parameters.values():
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            raise SignatureError(f"{func.__qualname__}: *args/**kwargs cannot be KFP component parameters")
        hint = hints.get(p.name, str)
        if isinstance(hint, str):
            raise SignatureError(f"{func.__qualname__}: parameter {p.name!r}: annotation {hint!r} is still a string "
                                 "after evaluation (quoted twice?)")
        if type(hint).__name__ in ("InputPath", "OutputPath"):
            raise SignatureError(f"{func.__qualname__}: parameter {p.name!r}: use Input[...]/Output[...] artifacts, "
                                 "not InputPath/OutputPath strings")
        artifact = _artifact_decl(p.name, hint)
        if artifact is not None:
            kind, decl = artifact
            face.decls.append(decl)
            (face.artifacts if kind == "input" else face.outputs).append(p.name)
            continue
        kind_name = _PARAMETER_TYPES.get(hint)
        if kind_name is None:
            face.decls.append(f"{p.name}: Input[Artifact]")
            face.refs.append(p.name)
            continue
        default = "" if p.default is p.empty else f" = {p.default!r}"
        face.decls.append(f"{p.name}: {kind_name}{default}")
        face.params.append(p.name)
    returns = hints.get("return", inspect.Signature.empty)
    if returns is None or returns in _PARAMETER_TYPES:
        face.by_reference = False
        face.returns = None if returns is None else _PARAMETER_TYPES[returns]
    elif face.outputs:
        raise SignatureError(f"{func.__qualname__}: a function with Output[...] parameters returns None or a KFP "
                             f"parameter type (int, float, str, bool, dict, list), not {returns!r}")
    if face.by_reference:
        face.decls.insert(0, "result: Output[Artifact]")
    # parameters with defaults must follow those without, as in any def
    face.decls.sort(key=lambda d: "=" in d)
    return face


Component = Callable[..., Any]  # a ConfiguredComponent when defining pipelines; the function inside the task


@overload
def cached_component(func: Callable[..., Any], /, *, run_info: bool = ..., **options: Any) -> Component: ...
@overload
def cached_component(func: None = ..., /, *, run_info: bool = ..., **options: Any) -> Callable[[Callable[..., Any]],
                                                                                               Component]: ...
def cached_component(func: Callable[..., Any] | None = None, /, *, run_info: bool = True,
                     **options: Any) -> Component | Callable[[Callable[..., Any]], Component]:
    """``@cached_component`` / ``@cached_component(name="sklearn.prepare", env="imports", base_image=…,
    packages_to_install=[…], task=ContainerTask(store_secret="lineage-store", gpus=1))``: lineage-core cache
    options, ``kfp.dsl.component`` options, ``kfp_cache`` and the task's container settings mix freely. The
    container settings are a :class:`~lineage_core.container.ContainerTask` (the store and server from
    Kubernetes secrets, GPUs, volumes — the names the Airflow pod operator takes), given as ``task=`` or field by
    field (``store_secret="lineage-store"``); its ``env`` only as ``task=``, since ``env=`` is the cache's
    environment policy."""
    if func is None:
        return lambda f: cached_component(f, run_info=run_info, **options)
    if _in_kfp_task():  # inside the task: the module is imported for the function
        return func
    from kfp import dsl

    cache_options = {k: options.pop(k) for k in list(options) if k in CACHE_OPTIONS}
    settings = TaskSettings.pop_from(options)
    if settings.container.gpus:  # recorded on the task's runs: what a hit saved in GPU-hours (lineage stats)
        cache_options["resources"] = settings.container.resource_class()
    json.dumps(cache_options)  # they travel in the component's source: plain data only
    face = _interface(func)
    decls = face.decls + ([f"{name}: str = {getattr(dsl, ph)!r}" for name, ph in _RUN_INFO.items()] if run_info else [])
    returns = f" -> {face.returns}" if face.returns else ""
    body = ("return " if face.returns else "") + face.call(func, cache_options, run_info)
    source = f"def {func.__name__}({', '.join(decls)}){returns}:\n    {body}\n"
    filename = f"<lineage_kfp component {func.__module__}.{func.__qualname__}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # for inspect.getsource
    namespace: dict[str, Any] = {name: getattr(dsl, name) for name in dir(dsl) if not name.startswith("_")}
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)  # noqa: S102 - our generated wrapper
    wrapper = namespace[func.__name__]
    wrapper.__module__ = func.__module__
    wrapper.__doc__ = func.__doc__
    wrapper.__lineage_func__ = func
    return ConfiguredComponent(dsl.component(wrapper, **options), settings)


def _in_kfp_task() -> bool:
    """True inside a KFP task's container (KFP's executor sets ``_KFP_RUNTIME``; not a lineage-core setting)."""
    return os.environ.get("_KFP_RUNTIME") == "true"


@overload
def gpu_training_component(func: Callable[..., Any], /, *, gpus: int = ..., shm_size: str | None = ...,
                           **options: Any) -> Component: ...
@overload
def gpu_training_component(func: None = ..., /, *, gpus: int = ..., shm_size: str | None = ...,
                           **options: Any) -> Callable[[Callable[..., Any]], Component]: ...
def gpu_training_component(func: Callable[..., Any] | None = None, /, *, gpus: int = 1, shm_size: str | None = "8Gi",
                           **options: Any) -> Component | Callable[[Callable[..., Any]], Component]:
    """A cached component for GPU training: ``gpus`` of ``accelerator`` (default one ``nvidia.com/gpu``) on
    every task, the GPU nodes' taint tolerated, ``gpu_type`` as a node selector on the GPU product label, and
    a memory-backed ``/dev/shm`` of ``shm_size`` (data loaders' worker processes share batches through it).
    Everything else is :func:`cached_component`'s: a retried or re-submitted training task whose code, data
    and packages did not change restores its model and metrics instead of training again."""
    task = options.pop("task", None)
    if task is not None:  # the ContainerTask given whole: its GPUs (default one) and /dev/shm (default shm_size)
        if not isinstance(task, ContainerTask):
            raise ConfigError(f"task= takes a lineage_core ContainerTask, not {type(task).__name__}")
        task = task.replace(gpus=task.gpus or gpus, shm_size=task.shm_size or shm_size)
        if task.gpus < 1:
            raise ConfigError(f"gpus={task.gpus}: a GPU training component needs at least one GPU")
        return cached_component(func, task=task, **options)
    if gpus < 1:
        raise ConfigError(f"gpus={gpus}: a GPU training component needs at least one GPU")
    return cached_component(func, gpus=gpus, shm_size=shm_size, **options)
