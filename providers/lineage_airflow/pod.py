"""``CachedKubernetesPodOperator``: a containerised (GPU) step that is not launched when nothing changed.

The key (``lineage_core.commands``) covers the image (exact when pinned by digest), cmds/arguments, the
literal non-secret env vars, the declared ``inputs`` (fingerprinted remotely, nothing downloaded) and
the resource class (GPU resource, type and count). On a hit no pod is created: the cached run's outputs
(URI → content hash, each re-checked) are the XCom. On a miss the pod's entrypoint is wrapped in
``lineage exec --``, which captures the environment inside the container, hashes the declared
``outputs`` and reports a result; the pod gets the plan (run id, key, OpenLineage parent = this task's
run) in its env, reaches the lineage server with ``OPENLINEAGE_URL`` + a token from a Kubernetes
secret, and writes its result to the XCom file so the operator can complete the run even when the pod
cannot reach the store. Without any result the operator hashes the outputs itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from kubernetes.client import models as k8s

from .operators import airflow_run_context, log_outcome, openlineage_facets

if TYPE_CHECKING:
    from lineage_core.integration import Settings

XCOM_RESULT = "/airflow/xcom/return.json"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"  # set by NVIDIA GPU feature discovery on every GPU node


class CachedKubernetesPodOperator(KubernetesPodOperator):
    """A KubernetesPodOperator whose pod runs only on a cache miss.

    ``inputs`` / ``outputs``: URIs (or prefixes) the container reads and writes. ``require_digest``: refuse
    an image not pinned by ``@sha256:`` (a tag may move under the same key; by default it is keyed by name
    with a warning). GPU helpers: ``gpus``, ``gpu_resource``, ``gpu_type`` (the node label
    ``nvidia.com/gpu.product``), ``gpu_tolerations`` (tolerate the GPU taint), ``shm_size`` (``/dev/shm``
    for PyTorch data loaders). The pod reaches lineage through ``lineage_server_url`` and the token in the
    Kubernetes secret ``lineage_token_secret`` (``name`` or ``name:key``), or a store URL from the secret
    ``lineage_store_secret``; ``pod_store_url`` / ``pod_artifacts_url`` pass non-secret URLs as they are.
    """

    template_fields: Sequence[str] = (*KubernetesPodOperator.template_fields, "inputs", "outputs",
                                      "lineage_server_url", "pod_store_url", "pod_artifacts_url")

    def __init__(
        self, *, inputs: Sequence[str] = (), outputs: Sequence[str] = (), require_digest: bool = False,
        cache_name: str | None = None, cache_namespace: str | None = None, version: str | int | None = None,
        gpus: int = 0, gpu_resource: str = "nvidia.com/gpu", gpu_type: str | None = None,
        gpu_tolerations: bool = True, shm_size: str | None = None, lineage_conn_id: str | None = None,
        lineage_server_url: str | None = None, lineage_token_secret: str | None = None,
        lineage_store_secret: str | None = None, pod_store_url: str | None = None,
        pod_artifacts_url: str | None = None, **kwargs: Any,
    ) -> None:
        if gpus < 0:
            raise ValueError(f"gpus={gpus} must be 0 or more")
        secrets = list(kwargs.pop("secrets", None) or [])
        if lineage_token_secret:
            secrets.append(_secret_env("OPENLINEAGE_API_KEY", lineage_token_secret, "token"))
        if lineage_store_secret:
            secrets.append(_secret_env("LINEAGE_STORE_URL", lineage_store_secret, "store-url"))
        if gpus:
            kwargs["container_resources"] = _with_gpu_limit(kwargs.get("container_resources"), gpu_resource, gpus)
            if gpu_type:
                kwargs["node_selector"] = {**(kwargs.get("node_selector") or {}), GPU_PRODUCT_LABEL: gpu_type}
            if gpu_tolerations:
                kwargs["tolerations"] = [*(kwargs.get("tolerations") or []), k8s.V1Toleration(
                    key=gpu_resource, operator="Exists", effect="NoSchedule")]
        if shm_size:
            kwargs["volumes"] = [*(kwargs.get("volumes") or []), k8s.V1Volume(
                name="dshm", empty_dir=k8s.V1EmptyDirVolumeSource(medium="Memory", size_limit=shm_size))]
            kwargs["volume_mounts"] = [*(kwargs.get("volume_mounts") or []),
                                       k8s.V1VolumeMount(name="dshm", mount_path="/dev/shm")]  # noqa: S108
        super().__init__(secrets=secrets, **kwargs)
        if not self.cmds:
            raise ValueError(f"{self.task_id}: give cmds (the image's entrypoint is wrapped in `lineage exec --`, "
                             "so it must be named)")
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.require_digest = require_digest
        self.cache_name = cache_name
        self.cache_namespace = cache_namespace
        self.version = None if version is None else str(version)
        self.resource_class = {"gpu_resource": gpu_resource, "gpus": gpus, "gpu_type": gpu_type} if gpus else {}
        self.lineage_conn_id = lineage_conn_id
        self.lineage_server_url = lineage_server_url
        self.pod_store_url = pod_store_url
        self.pod_artifacts_url = pod_artifacts_url
        self.lineage_run_id: str | None = None
        self.lineage_settings: Settings | None = None  # set when the task runs
        self._plan_env: dict[str, str] = {}

    # -- the key ---------------------------------------------------------------------------------
    def command_spec(self) -> Any:
        """The command step this task is (after templating): what the key is made of."""
        from lineage_core.commands import CommandSpec, image_pinned

        if not image_pinned(self.image):
            if self.require_digest:
                raise ValueError(f"{self.task_id}: image {self.image!r} is not pinned by digest (repo@sha256:…) "
                                 "and require_digest=True")
            self.log.warning("image %r is a tag, which may move; it is keyed by name. Pin it by digest "
                             "(repo@sha256:…) for an exact key", self.image)
        return CommandSpec(
            name=self.cache_name or f"{self.dag_id}.{self.task_id}", image=self.image,
            command=(*self.cmds, *(self.arguments or [])), env=_literal_env(self.env_vars),
            inputs=tuple(self.inputs), outputs=tuple(self.outputs), resources=self.resource_class,
            namespace=self.cache_namespace, version=self.version,
        )

    # -- the pod ---------------------------------------------------------------------------------
    def lineage_env(self) -> dict[str, str]:
        """What the pod's ``lineage exec`` needs besides secrets: where lineage goes, the plan of this run."""
        from lineage_core.commands import image_pinned

        env = {"OPENLINEAGE_URL": self.lineage_server_url, "LINEAGE_STORE_URL": self.pod_store_url,
               "LINEAGE_ARTIFACTS_URL": self.pod_artifacts_url,
               "LINEAGE_IMAGE_DIGEST": self.image if image_pinned(self.image) else None}
        return {k: v for k, v in env.items() if v} | self._plan_env

    def build_pod_request_obj(self, context: Any = None, *, dry_run: bool = False) -> k8s.V1Pod:
        pod = super().build_pod_request_obj(context, dry_run=dry_run)
        container = next(c for c in pod.spec.containers if c.name == self.base_container_name)
        if container.command[:3] != ["lineage", "exec", "--"]:
            container.command = ["lineage", "exec", "--", *container.command]
        ours = self.lineage_env()
        container.env = [e for e in container.env or [] if e.name not in ours]
        container.env += [k8s.V1EnvVar(name=k, value=v) for k, v in ours.items()]
        return pod

    # -- execution -------------------------------------------------------------------------------
    def execute(self, context: Any) -> Any:
        from lineage_core.integration import (
            CommandStep,
            complete,
            default_store,
            plan_env,
            result_from_json,
            run_context,
            use_settings,
        )

        from .hooks import lineage_settings

        settings = self.lineage_settings = lineage_settings(self.lineage_conn_id)
        with use_settings(settings), run_context(**airflow_run_context(context)):
            step = CommandStep(self.command_spec(), default_store(settings))
            verdict = step.check()
            log_outcome(self.log, verdict.hit, verdict.key, verdict.source_run_id, verdict.reasons, settings)
            self.lineage_run_id = verdict.run_id
            if verdict.hit:
                self.log.info("no pod created: outputs %s", ", ".join(verdict.outputs))
                return self._result(context, _xcom(verdict.run_id, verdict.key, "hit", verdict.outputs,
                                                   verdict.source_run_id))
            pod_context = {"orchestrator": "airflow", "executor": "kubernetes", "image": self.image}
            plan = step.begin(verdict, pod_context)
        self._plan_env = plan_env(plan, XCOM_RESULT if self.do_xcom_push else None)
        self.pod_request_obj = None  # rebuilt with the plan in the pod's env
        try:
            raw = super().execute(context)
        except BaseException as e:
            failed = _failed(plan, f"pod failed: {type(e).__name__}: {e}")
            complete(step.store, plan, failed)
            raise
        if raw:
            result = result_from_json(raw)
        else:  # no XCom file (do_xcom_push=False): the pod may have registered itself; else hash here
            result = _hashed_here(step, plan) if step.store.get_run(plan.run_id)["ended_at"] is None else None
        if result is not None:
            complete(step.store, plan, result)
        recorded = step.recorded_outputs([])
        if recorded is None or recorded[0] != plan.run_id:
            run = step.store.get_run(plan.run_id)
            raise RuntimeError(f"{self.task_id}: the pod succeeded but its run {plan.run_id} is {run['status']}: "
                               f"{run['error']}")
        return self._result(context, _xcom(plan.run_id, plan.key, "miss", recorded[1], None))

    def _result(self, context: Any, value: dict[str, Any]) -> Any:
        """The XCom is always ours (outputs, hit or miss, run). ``do_xcom_push`` keeps its KPO meaning (the
        sidecar that reads the pod's result file), so without it the value is pushed here."""
        if self.do_xcom_push:
            return value
        context["ti"].xcom_push(key="return_value", value=value)
        return None

    # -- lineage ---------------------------------------------------------------------------------
    def _datasets(self) -> tuple[list[Any], list[Any]]:
        from openlineage.client.event_v2 import InputDataset, OutputDataset

        from lineage_core.openlineage.naming import dataset_name

        return ([InputDataset(*dataset_name(u)) for u in self.inputs],
                [OutputDataset(*dataset_name(u)) for u in self.outputs])

    def get_openlineage_facets_on_start(self) -> Any:
        inputs, outputs = self._datasets()
        return openlineage_facets(None, inputs, outputs)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        inputs, outputs = self._datasets()
        return openlineage_facets(self.lineage_run_id, inputs, outputs, self.lineage_settings)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self.get_openlineage_facets_on_complete(task_instance)


def _xcom(run_id: str, key: str, cache: str, outputs: dict[str, str], source: str | None) -> dict[str, Any]:
    return {"outputs": outputs, "cache": cache, "key": key, "lineage_run_id": run_id, "source_run_id": source}


def _failed(plan: Any, error: str) -> Any:
    import time

    from lineage_core.commands import CommandResult

    now = time.time()
    return CommandResult(run_id=plan.run_id, key=plan.key, job=plan.job, namespace=plan.namespace, status="FAILED",
                         exit_code=1, started_at=now, ended_at=now, error=error[:2000])


def _hashed_here(step: Any, plan: Any) -> Any:
    """The pod left no result: hash the declared outputs from here (the run's environment stays unknown)."""
    import time

    from lineage_core.commands import CommandResult
    from lineage_core.execution import hash_outputs

    outputs, _missing = hash_outputs(plan.outputs, step.store)  # complete() fails the run when one is missing
    now = time.time()
    return CommandResult(run_id=plan.run_id, key=plan.key, job=plan.job, namespace=plan.namespace,
                         status="COMPLETED", exit_code=0, outputs=outputs, started_at=now, ended_at=now)


def _secret_env(var: str, ref: str, default_key: str) -> Secret:
    name, _, key = ref.partition(":")
    return Secret("env", var, name, key or default_key)


def _with_gpu_limit(resources: k8s.V1ResourceRequirements | None, gpu_resource: str, gpus: int) -> Any:
    resources = resources or k8s.V1ResourceRequirements()
    resources.limits = {**(resources.limits or {}), gpu_resource: str(gpus)}
    return resources


def _literal_env(env_vars: Any) -> dict[str, str]:
    """Literal env values (``valueFrom`` secrets and field refs are not values, so not key material)."""
    if not env_vars:
        return {}
    if isinstance(env_vars, dict):
        return {str(k): str(v) for k, v in env_vars.items()}
    return {e.name: e.value for e in env_vars if getattr(e, "value", None) is not None}
