"""Cached Python tasks: ``@cached_task`` (TaskFlow) and ``CachedPythonOperator``.

The callable goes through ``lineage_core.cached`` with the same options, named ``<dag_id>.<task_id>``
unless ``name=`` says otherwise. The XCom is a small artifact reference (URI, content hash,
materializer), never the data; a downstream cached task keys that reference by content without reading
it and loads it (verified) only when it actually runs, so a chain re-checks in O(1) per task. On a hit
the callable does not run and the log says which run produced the value; on a miss it says why.
The null path: with ``LINEAGE_DISABLED``, or a cache that does not write (``off``, ``read``), the XCom is the
plain value, as a plain task's would be (disabled: the callable runs and nothing is recorded).
Context values a callable asks for by name (``ti``, ``ds``, …) are passed but never part of the key.
Lineage: Airflow's OpenLineage provider calls ``get_openlineage_facets_on_complete`` and sends our
``lineage_cache`` / ``lineage_environment`` facets and the datasets with the task's own events.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory

from lineage_core.integration import ConfigError  # (CACHE_OPTIONS loads the cache's modules: only when asked)

if TYPE_CHECKING:
    from lineage_core.integration import Settings


def airflow_run_context(context: Any) -> dict[str, Any]:
    """Who runs the step (recorded on our run, never in the key) and its OpenLineage parent: the task's
    run as Airflow's OpenLineage provider names it, so our run is its child in Marquez."""
    ti = context["ti"]
    info: dict[str, Any] = {"orchestrator": "airflow", "dag_id": ti.dag_id, "task_id": ti.task_id,
                            "dag_run_id": ti.run_id, "try_number": ti.try_number,
                            "logical_date": str(context.get("logical_date"))}
    try:
        from airflow.providers.openlineage import conf as ol_conf
    except ImportError:  # without the OpenLineage provider there is no parent run to name
        return info
    if ol_conf.is_disabled():  # no events will name a parent (and its macros cost ~150 ms to import)
        return info
    from airflow.providers.openlineage.plugins import macros

    info["parent"] = {
        "run_id": macros.lineage_run_id(ti),
        "namespace": macros.lineage_job_namespace(),  # type: ignore[no-untyped-call]
        "name": macros.lineage_job_name(ti),
        "root": {"run_id": macros.lineage_root_run_id(ti), "namespace": macros.lineage_root_job_namespace(ti),
                 "name": macros.lineage_root_job_name(ti)},
    }
    return info


class CachedPythonOperator(PythonOperator):
    """A PythonOperator whose callable is a ``lineage_core.cached`` step (``cache_options`` = its options)."""

    def __init__(self, *, python_callable: Callable[..., Any], cache_options: dict[str, Any] | None = None,
                 lineage_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(python_callable=python_callable, **kwargs)
        self.cache_options = dict(cache_options or {})
        if self.cache_options:  # else parsing the DAG file needs none of the cache's modules (its execute does)
            from lineage_core.integration import CACHE_OPTIONS

            unknown = sorted(set(self.cache_options) - CACHE_OPTIONS)
            if unknown:
                raise ConfigError(f"{self.task_id}: unknown cache options {unknown}; known: {sorted(CACHE_OPTIONS)}")
        self.lineage_conn_id = lineage_conn_id
        self.lineage_run_id: str | None = None
        self.lineage_settings: Settings | None = None  # set when the task runs

    def execute_callable(self) -> Any:
        from airflow.sdk import get_current_context

        from lineage_core.integration import (
            as_ref,
            cached,
            explain,
            outcome_reported_by_caller,
            run_context,
            use_settings,
        )

        from .hooks import lineage_settings

        self.lineage_settings = lineage_settings(self.lineage_conn_id)
        context = get_current_context()
        params = inspect.signature(self.python_callable).parameters
        from_context = {n for n in params if n in context}
        options = {"name": f"{self.dag_id}.{self.task_id}", **self.cache_options}
        options["exclude"] = sorted(set(options.get("exclude", ())) | from_context)
        step = cached(**options)(self.python_callable)
        args = [as_ref(a) for a in self.op_args]
        kwargs = {k: as_ref(v) for k, v in self.op_kwargs.items() if k in params or k not in context}
        with (use_settings(self.lineage_settings), run_context(**airflow_run_context(context)),
              outcome_reported_by_caller()):  # log_outcome below says it, once
            by_reference = step.passes_by_reference
            if by_reference:
                ref = step.ref(*args, **kwargs)
            else:  # the null path (disabled, or a cache that does not write): the value, as a plain task's XCom
                value = step(*args, **kwargs)
        if step.last is None:
            self.log.info("lineage-core is disabled (LINEAGE_DISABLED): the callable ran, nothing was recorded")
            return value
        outcome = explain(step)
        self.lineage_run_id = outcome.run_id
        log_outcome(self.log, outcome.hit, outcome.key, outcome.source_run_id, outcome.reasons,
                    self.lineage_settings)
        if not by_reference:
            return value
        return {**ref.to_dict(), "lineage_run_id": outcome.run_id}

    def get_openlineage_facets_on_start(self) -> Any:
        return openlineage_facets(None)  # inputs are known once the arguments are resolved, at completion

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return openlineage_facets(self.lineage_run_id, settings=self.lineage_settings)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return openlineage_facets(self.lineage_run_id, settings=self.lineage_settings)


def openlineage_facets(run_id: str | None, inputs: list[Any] | None = None, outputs: list[Any] | None = None,
                       settings: Settings | None = None) -> Any:
    """Our run's ``lineage_*`` facets and datasets, for Airflow's OpenLineage provider to send with the
    task's own events (built from the store, the source of truth)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    if not run_id:
        return OperatorLineage(inputs=inputs or [], outputs=outputs or [])
    from lineage_core.integration import default_store, run_events

    events = run_events(default_store(settings), run_id)
    facets: dict[str, Any] = {}
    for event in events:
        facets.update({k: v for k, v in (event.run.facets or {}).items() if k.startswith("lineage_")})
    return OperatorLineage(inputs=inputs if inputs is not None else list(events[0].inputs or []),
                           outputs=outputs if outputs is not None else list(events[-1].outputs or []),
                           run_facets=facets)


def log_outcome(log: Any, hit: bool, key: str, source_run_id: str | None, reasons: Sequence[str],
                settings: Settings | None = None) -> None:
    """``cache hit: key … from run … (dag.task, date)`` or ``cache miss: key …: reasons``. A hit's words are the
    core's hit reason (``reasons[0]``: it says too when the call waited for a concurrent computation), with the run
    that produced the value described."""
    from lineage_core.integration import short

    if hit:
        log.info("%s (%s)", reasons[0], _describe_run(source_run_id, settings))
    else:
        log.info("cache miss: key %s: %s", short(key), "; ".join(reasons))


def _describe_run(run_id: str | None, settings: Settings | None) -> str:
    """``dag.task, date`` of the run that produced a value (or its job name outside Airflow)."""
    if not run_id:
        return "?"
    from lineage_core.integration import default_store, run_summary

    job, ctx = run_summary(default_store(settings), run_id)
    if ctx.get("orchestrator") == "airflow":
        return f"{ctx.get('dag_id')}.{ctx.get('task_id')}, {ctx.get('logical_date')}"
    return f"{job}, {ctx.get('orchestrator', 'python')}"


class _CachedDecoratedOperator(DecoratedOperator, CachedPythonOperator):
    custom_operator_name = "@cached_task"
    template_fields = ("templates_dict", "op_args", "op_kwargs")

    def __init__(self, *, python_callable: Callable[..., Any], op_args: Any, op_kwargs: Any, **kwargs: Any) -> None:
        upstream = {"python_callable": python_callable, "op_args": op_args, "op_kwargs": op_kwargs}
        super().__init__(kwargs_to_upstream=upstream, python_callable=python_callable, op_args=op_args,
                         op_kwargs=op_kwargs, **kwargs)


def cached_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@cached_task`` / ``@cached_task(env="full", version=2, max_age=3600, retries=2, ...)``: a TaskFlow
    task whose callable is cached; ``lineage_core.cached`` options and task arguments mix freely."""
    from lineage_core.integration import CACHE_OPTIONS

    if kwargs.get("multiple_outputs"):
        raise ConfigError("a cached task's XCom is one artifact reference: multiple_outputs is not supported")
    cache_options = {k: kwargs.pop(k) for k in list(kwargs) if k in CACHE_OPTIONS}
    return task_decorator_factory(python_callable=python_callable, multiple_outputs=False,
                                  decorated_operator_class=_CachedDecoratedOperator, cache_options=cache_options,
                                  **kwargs)
