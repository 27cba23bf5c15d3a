"""``@cached_component``: a KFP component around a plain function, cached by lineage-core.

The function is written as for ``lineage_core.cached`` (parameters in, a value out). The component KFP sees
has the same parameters (plain types as KFP parameters; any other type as an input artifact that carries an
upstream component's result by reference) and one output artifact, ``result``: a small JSON
``ArtifactRef`` (URI, content hash, materializer), never the data. Inside the task's container the cache is
consulted first; on a hit the function does not run. Because the key is the core's (code, parameters,
inputs by content, key-relevant packages), a step cached by an Airflow task with the same function and
``name=`` is a hit here too.

The function must be importable in the component's image (its module installed, as in any containerised
component); the component body imports it by module and name. Keep steps and the pipeline in separate
modules: inside a task KFP's runtime ``kfp.dsl`` has no ``pipeline`` decorator.
"""

from __future__ import annotations

import inspect
import json
import linecache
import os
from collections.abc import Callable
from typing import Any

from lineage_core.cache import CACHE_OPTIONS

_PARAMETER_TYPES = {int: "int", float: "float", str: "str", bool: "bool", dict: "dict", list: "list"}
_RUN_INFO = {"lineage_pipeline": "PIPELINE_JOB_NAME_PLACEHOLDER", "lineage_pipeline_run": "PIPELINE_JOB_ID_PLACEHOLDER",
             "lineage_task": "PIPELINE_TASK_NAME_PLACEHOLDER"}


def _signature(func: Callable[..., Any]) -> tuple[list[str], dict[str, str], list[str]]:
    """(KFP parameter declarations, plain parameters -> expression, reference parameters)."""
    from kfp import dsl

    hints = inspect.get_annotations(func, eval_str=True)
    decls = ["result: Output[Artifact]"]
    plain: dict[str, str] = {}
    refs: list[str] = []
    for p in inspect.signature(func).parameters.values():
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            raise TypeError(f"{func.__qualname__}: *args/**kwargs cannot be KFP component parameters")
        kind = _PARAMETER_TYPES.get(hints.get(p.name, str))
        if kind is None:
            decls.append(f"{p.name}: Input[Artifact]")
            refs.append(p.name)
            continue
        default = "" if p.default is p.empty else f" = {p.default!r}"
        decls.append(f"{p.name}: {kind}{default}")
        plain[p.name] = p.name
    decls += [f"{name}: str = {getattr(dsl, placeholder)!r}" for name, placeholder in _RUN_INFO.items()]
    return decls, plain, refs


def cached_component(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """``@cached_component`` / ``@cached_component(name="sklearn.prepare", env="imports", base_image=…,
    packages_to_install=[…])``: lineage-core cache options and ``kfp.dsl.component`` options mix freely."""
    if func is None:
        return lambda f: cached_component(f, **options)
    if os.environ.get("_KFP_RUNTIME") == "true":  # inside the task: the module is imported for the function
        return func
    from kfp import dsl

    cache_options = {k: options.pop(k) for k in list(options) if k in CACHE_OPTIONS}
    json.dumps(cache_options)  # they travel in the component's source: plain data only
    decls, plain, refs = _signature(func)
    call = (f"__import__('lineage_kfp.runtime').runtime.run({func.__module__!r}, {func.__qualname__!r}, "
            f"{{{', '.join(f'{k!r}: {v}' for k, v in plain.items())}}}, "
            f"{{{', '.join(f'{r!r}: {r}' for r in refs)}}}, result, {cache_options!r}, "
            f"{{{', '.join(f'{k!r}: {k}' for k in _RUN_INFO)}}})")
    source = f"def {func.__name__}({', '.join(decls)}):\n    {call}\n"
    filename = f"<lineage_kfp component {func.__module__}.{func.__qualname__}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # for inspect.getsource
    namespace: dict[str, Any] = {"Input": dsl.Input, "Output": dsl.Output, "Artifact": dsl.Artifact}
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)  # noqa: S102 - our generated wrapper
    wrapper = namespace[func.__name__]
    wrapper.__module__ = func.__module__
    wrapper.__lineage_func__ = func
    return dsl.component(wrapper, **options)
