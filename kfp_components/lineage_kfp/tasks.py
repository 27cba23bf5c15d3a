"""Task settings a component carries into every pipeline that uses it: where the task reaches the store and
the lineage server (Kubernetes secrets, never literals), GPUs, shared memory and volumes.

KFP sets these per task (``task.set_accelerator_type``, ``kfp.kubernetes.use_secret_as_env``, …), not per
component, so a component with settings is wrapped: calling it in a pipeline makes the task and applies
them. The wrapper is otherwise the component (its spec, ``python_func``, …). Every cached component is
wrapped: at least, KFP's own cache is turned off for its tasks unless asked for (``kfp_cache=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from lineage_core.errors import ConfigError

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"  # set by NVIDIA GPU feature discovery on every GPU node


@dataclass(frozen=True)
class TaskSettings:
    """What to set on each task; everything optional.

    The store, one of two ways. ``server_store=True``: the lineage server at ``lineage_server_url`` is the
    task's store and its events' destination, with the token from ``token_secret`` — one URL, one secret, no
    database or bucket credentials in the pod. Or ``store_secret``: a Kubernetes secret whose key
    ``store-url`` becomes ``LINEAGE_STORE_URL`` (a PostgreSQL URL, or a lineage server's), with
    ``artifacts_url`` (``LINEAGE_ARTIFACTS_URL``: ``s3://…``, ``gs://…``) beside a database URL.
    ``token_secret``: key ``token`` becomes ``OPENLINEAGE_API_KEY`` (the lineage server's token, for the task's
    events and a server store). ``secret_env``: more secrets as env (secret name → {key: variable}, e.g. the
    object store's credentials). ``lineage_server_url``: ``OPENLINEAGE_URL``, where the task's OpenLineage
    events go. ``gpus`` /
    ``accelerator`` (``nvidia.com/gpu``) / ``gpu_type`` (a node selector on the GPU product label) /
    ``tolerate_gpu_taint``; ``cpu`` / ``memory`` limits; ``shm_size`` (``/dev/shm`` as a memory-backed
    volume: PyTorch data loaders need more than the container default); ``pvcs`` (claim name → mount path);
    ``env`` (literal variables; put secrets in secrets). ``kfp_cache``: KFP's own cache for the task, off by
    default — a KFP hit skips the task's code entirely (no content check, no record, no lineage) and KFP's
    key cannot see a change in the function's module, only in the component's command (docs/kfp.md).
    """

    store_secret: str | None = None
    token_secret: str | None = None
    artifacts_url: str | None = None
    secret_env: dict[str, dict[str, str]] = field(default_factory=dict)
    lineage_server_url: str | None = None
    gpus: int = 0
    accelerator: str = "nvidia.com/gpu"
    gpu_type: str | None = None
    tolerate_gpu_taint: bool = True
    cpu: str | None = None
    memory: str | None = None
    shm_size: str | None = None
    pvcs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    kfp_cache: bool = False
    server_store: bool = False

    def __post_init__(self) -> None:
        if self.server_store:
            if not self.lineage_server_url or not self.token_secret:
                raise ConfigError("server_store=True needs lineage_server_url (the store) and token_secret (its token)")
            if self.store_secret or self.artifacts_url:
                raise ConfigError("server_store=True: the lineage server is the store and keeps the artifacts; "
                                  "drop store_secret and artifacts_url")

    @classmethod
    def pop_from(cls, options: dict[str, Any]) -> TaskSettings:
        """Take this class's fields out of a mixed options dict."""
        return cls(**{f.name: options.pop(f.name) for f in fields(cls) if f.name in options})

    def apply(self, task: Any) -> Any:
        from kfp import kubernetes

        task.set_caching_options(self.kfp_cache)
        if self.store_secret:
            kubernetes.use_secret_as_env(task, secret_name=self.store_secret,
                                         secret_key_to_env={"store-url": "LINEAGE_STORE_URL"})
        if self.token_secret:
            kubernetes.use_secret_as_env(task, secret_name=self.token_secret,
                                         secret_key_to_env={"token": "OPENLINEAGE_API_KEY"})
        for secret, keys in self.secret_env.items():
            kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env=keys)
        if self.artifacts_url:
            task.set_env_variable("LINEAGE_ARTIFACTS_URL", self.artifacts_url)
        if self.lineage_server_url:
            task.set_env_variable("OPENLINEAGE_URL", self.lineage_server_url)
            if self.server_store:
                task.set_env_variable("LINEAGE_STORE_URL", self.lineage_server_url)
        for name, value in self.env.items():
            task.set_env_variable(name, value)
        if self.gpus:
            task.set_accelerator_type(self.accelerator)
            task.set_accelerator_limit(self.gpus)
            if self.gpu_type:
                kubernetes.add_node_selector(task, label_key=GPU_PRODUCT_LABEL, label_value=self.gpu_type)
            if self.tolerate_gpu_taint:
                kubernetes.add_toleration(task, key=self.accelerator, operator="Exists", effect="NoSchedule")
        if self.cpu:
            task.set_cpu_limit(self.cpu)
        if self.memory:
            task.set_memory_limit(self.memory)
        if self.shm_size:
            kubernetes.empty_dir_mount(task, volume_name="dshm", mount_path="/dev/shm", medium="Memory",  # noqa: S108
                                       size_limit=self.shm_size)
        for claim, path in self.pvcs.items():
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

