"""Task settings a component carries into every pipeline that uses it: where the task reaches the store and
the lineage server (Kubernetes secrets, never literals), GPUs, shared memory and volumes — a
:class:`~lineage_core.container.ContainerTask`, translated here to KFP's task API.

KFP sets these per task (``task.set_accelerator_type``, ``kfp.kubernetes.use_secret_as_env``, …), not per
component, so a component with settings is wrapped: calling it in a pipeline makes the task and applies
them. The wrapper is otherwise the component (its spec, ``python_func``, …). Every cached component is
wrapped: at least, KFP's own cache is turned off for its tasks unless asked for (``kfp_cache=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lineage_core.integration import GPU_PRODUCT_LABEL, ConfigError, ContainerTask

__all__ = ["GPU_PRODUCT_LABEL", "ConfiguredComponent", "TaskSettings"]


@dataclass(frozen=True)
class TaskSettings:
    """What to set on each task: a :class:`~lineage_core.container.ContainerTask` (GPUs, limits, volumes, where
    lineage goes — the names the Airflow pod operator takes too) and ``kfp_cache``, KFP's own cache for the
    task, off by default: a KFP hit skips the task's code entirely (no content check, no record, no lineage)
    and KFP's key cannot see a change in the function's module, only in the component's command
    (docs/kfp.md)."""

    container: ContainerTask = field(default_factory=ContainerTask)
    kfp_cache: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.container, ContainerTask):
            raise ConfigError(f"task= takes a lineage_core ContainerTask, not {type(self.container).__name__}")

    @classmethod
    def pop_from(cls, options: dict[str, Any]) -> TaskSettings:
        """Take ``task=`` (a ContainerTask) or its fields given one by one, and ``kfp_cache``, out of a mixed
        options dict."""
        task = options.pop("task", None)
        fields_given = ContainerTask.pop_from(options)
        if task is not None and fields_given is not None:
            raise ConfigError("give the container settings either as task=ContainerTask(...) or one by one, not both")
        return cls(task or fields_given or ContainerTask(), bool(options.pop("kfp_cache", False)))

    def apply(self, task: Any) -> Any:
        """Translate the settings onto one KFP ``PipelineTask``."""
        from kfp import kubernetes

        c = self.container
        task.set_caching_options(self.kfp_cache)
        secrets: dict[str, dict[str, str]] = {}
        for s in c.secret_envs():
            secrets.setdefault(s.secret, {})[s.key] = s.var
        for secret, keys in secrets.items():
            kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env=keys)
        for name, value in {**c.lineage_env(), **c.env}.items():
            task.set_env_variable(name, value)
        if c.gpus:
            task.set_accelerator_type(c.accelerator)
            task.set_accelerator_limit(c.gpus)
            if c.gpu_type:
                kubernetes.add_node_selector(task, label_key=GPU_PRODUCT_LABEL, label_value=c.gpu_type)
            if c.gpu_toleration:
                kubernetes.add_toleration(task, **c.gpu_toleration)
        if c.cpu:
            task.set_cpu_limit(c.cpu)
        if c.memory:
            task.set_memory_limit(c.memory)
        if c.shm_size:
            kubernetes.empty_dir_mount(task, volume_name="dshm", mount_path="/dev/shm", medium="Memory",  # noqa: S108
                                       size_limit=c.shm_size)
        for claim, path in c.pvcs.items():
            kubernetes.mount_pvc(task, pvc_name=claim, mount_path=path)
        return task


class ConfiguredComponent:
    """A component whose every task in a pipeline gets ``settings``; otherwise it is the component. (Called
    outside a pipeline, kfp.local runs it at once: there is no task to configure.)"""

    def __init__(self, component: Any, settings: TaskSettings) -> None:
        self.component = component
        self.settings = settings

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from kfp.dsl import pipeline_context

        pipeline = pipeline_context.Pipeline.get_default_pipeline()
        if pipeline is not None and "lineage_pipeline" in (self.component.component_spec.inputs or {}):
            # KFP has no placeholder for the pipeline's name, only the run's: the name is known here, when the
            # pipeline is compiled, and is what the OpenLineage parent job must be (one job, many runs)
            kwargs.setdefault("lineage_pipeline", pipeline.name)
        task = self.component(*args, **kwargs)
        return self.settings.apply(task) if pipeline is not None else task

    def __getattr__(self, name: str) -> Any:
        return getattr(self.component, name)

