"""``CachedKubernetesPodOperator``: a containerised (GPU) step that is not launched when nothing changed.

The key (``lineage_core`` cached commands) covers the image (exact when pinned by digest), cmds/arguments,
the literal non-secret env vars, the declared ``inputs`` (fingerprinted remotely, nothing downloaded) and
the resource class (GPU resource, type and count). On a hit no pod is created: the cached run's outputs
(URI → content hash, each re-checked) are the XCom. On a miss the pod's entrypoint is wrapped in
``lineage exec --``, which captures the environment inside the container, hashes the declared
``outputs`` and reports a result; the pod gets the plan (run id, key, OpenLineage parent = this task's
run) in its env, reaches the lineage server with ``OPENLINEAGE_URL`` + a token from a Kubernetes
secret, and writes its result to the XCom file so the operator can complete the run even when the pod
cannot reach the store. Without any result the operator hashes the outputs itself.

The null path: with ``LINEAGE_DISABLED`` the operator is a plain KubernetesPodOperator (no wrapper, no plan,
nothing recorded; the pod gets ``LINEAGE_DISABLED=true``). When the cache does not write (``off``, or a
``read`` miss) the pod runs unwrapped every time and the operator records the run, without a cache entry.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from kubernetes.client import models as k8s

from lineage_core.integration import GPU_PRODUCT_LABEL, CacheSpec, ConfigError, ContainerTask

from .operators import airflow_run_context, log_outcome, openlineage_facets

if TYPE_CHECKING:
    from lineage_core.integration import CacheMode, CommandStep, ExecPlan, Settings

__all__ = ["GPU_PRODUCT_LABEL", "XCOM_RESULT", "CachedKubernetesPodOperator"]
XCOM_RESULT = "/airflow/xcom/return.json"
_WRAPPER = ["lineage", "exec", "--"]


class CachedKubernetesPodOperator(KubernetesPodOperator):
    """A KubernetesPodOperator whose pod runs only on a cache miss.

    :param inputs: URIs (or prefixes) the container reads: key material, fingerprinted where they are.
    :param outputs: URIs (or prefixes) the container writes: the cached value (their content hashes).
    :param cache: :class:`~lineage_core.container.CacheSpec`: the job name, namespace, version salt, cache
        mode and ``require_digest``.
    :param task: :class:`~lineage_core.container.ContainerTask`: GPUs, ``/dev/shm``, limits, volumes and where
        lineage goes from the pod (the lineage server, its token secret, the store) — the names KFP
        components take too. Its ``lineage_server_url``, ``store_url`` and ``artifacts_url`` are templated.
    :param lineage_conn_id: the ``lineage`` connection naming this task's store (default: the environment's).
    """

    template_fields: Sequence[str] = (*KubernetesPodOperator.template_fields, "inputs", "outputs",
                                      "lineage_server_url", "store_url", "artifacts_url")

    def __init__(self, *, inputs: Sequence[str] = (), outputs: Sequence[str] = (), cache: CacheSpec | None = None,
                 task: ContainerTask | None = None, lineage_conn_id: str | None = None, **kwargs: Any) -> None:
        cache = cache if cache is not None else CacheSpec()
        task = task if task is not None else ContainerTask()
        if not isinstance(cache, CacheSpec) or not isinstance(task, ContainerTask):
            raise ConfigError("cache= takes a lineage_core CacheSpec and task= a ContainerTask")
        super().__init__(**_pod_arguments(task, kwargs))
        if not self.cmds:
            raise ConfigError(f"{self.task_id}: give cmds (the image's entrypoint is wrapped in `lineage exec --`, "
                              "so it must be named)")
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.cache = cache
        self.task = task
        self.lineage_conn_id = lineage_conn_id
        self.lineage_server_url = task.lineage_server_url
        self.store_url = task.store_url
        self.artifacts_url = task.artifacts_url
        self.lineage_run_id: str | None = None
        self.lineage_settings: Settings | None = None  # set when the task runs
        self._wrap = True  # the pod's entrypoint runs under `lineage exec` (not on the null path)
        self._launch_env: dict[str, str] = {}

    # -- the key ---------------------------------------------------------------------------------
    def command_spec(self) -> Any:
        """The command step this task is (after templating): what the key is made of."""
        from lineage_core.integration import CommandSpec, image_pinned

        if not image_pinned(self.image):
            if self.cache.require_digest:
                raise ConfigError(f"{self.task_id}: image {self.image!r} is not pinned by digest (repo@sha256:…) "
                                  "and require_digest=True")
            self.log.warning("image %r is a tag, which may move; it is keyed by name. Pin it by digest "
                             "(repo@sha256:…) for an exact key", self.image)
        return CommandSpec(
            name=self.cache.name or f"{self.dag_id}.{self.task_id}", image=self.image,
            command=(*self.cmds, *(self.arguments or [])), env=_literal_env(self.env_vars),
            inputs=tuple(self.inputs), outputs=tuple(self.outputs), resources=self.task.resource_class(),
            namespace=self.cache.namespace, version=None if self.cache.version is None else str(self.cache.version),
        )

    # -- the pod ---------------------------------------------------------------------------------
    def rendered_task(self) -> ContainerTask:
        """The task settings with their templated fields as rendered (validated again)."""
        return self.task.replace(lineage_server_url=self.lineage_server_url or None, store_url=self.store_url or None,
                                 artifacts_url=self.artifacts_url or None)

    def lineage_env(self) -> dict[str, str]:
        """What the pod's ``lineage exec`` needs besides secrets: where lineage goes, the plan of this run."""
        from lineage_core.integration import IMAGE_DIGEST_ENV, image_pinned

        if not self._wrap:
            return dict(self._launch_env)
        env = self.rendered_task().lineage_env()
        if self.image and image_pinned(self.image):
            env[IMAGE_DIGEST_ENV] = self.image
        return env | self._launch_env

    def build_pod_request_obj(self, context: Any = None, *, dry_run: bool = False) -> k8s.V1Pod:
        pod = super().build_pod_request_obj(context, dry_run=dry_run)
        container = next(c for c in pod.spec.containers if c.name == self.base_container_name)
        if self._wrap and container.command[:3] != _WRAPPER:
            container.command = [*_WRAPPER, *container.command]
        ours = self.lineage_env()
        container.env = [e for e in container.env or [] if e.name not in ours]
        container.env += [k8s.V1EnvVar(name=k, value=v) for k, v in ours.items()]
        return pod

    def _launch(self, context: Any, wrap: bool, env: dict[str, str]) -> Any:
        """Run the pod (KubernetesPodOperator's execute), wrapped in ``lineage exec`` or not."""
        self._wrap, self._launch_env = wrap, env
        self.pod_request_obj = None  # rebuilt with this launch's env
        return super().execute(context)

    # -- execution -------------------------------------------------------------------------------
    def execute(self, context: Any) -> Any:
        from lineage_core.integration import (
            CACHE_ENV,
            DISABLED_ENV,
            CommandStep,
            Reason,
            Verdict,
            default_store,
            new_run_id,
            outcome_reported_by_caller,
            plan_env,
            run_context,
            use_settings,
        )

        from .hooks import lineage_settings

        settings = self.lineage_settings = lineage_settings(self.lineage_conn_id)
        if settings.disabled:  # the null path: a plain KubernetesPodOperator
            self.log.info("lineage-core is disabled (LINEAGE_DISABLED): the pod runs as a plain KubernetesPodOperator")
            return self._launch(context, wrap=False, env={DISABLED_ENV: "true"})
        mode: CacheMode = self.cache.mode or settings.cache_mode  # type: ignore[assignment]
        with use_settings(settings), run_context(**airflow_run_context(context)), outcome_reported_by_caller():
            step = CommandStep(self.command_spec(), default_store(settings))
            if mode.reads:
                verdict = step.check()
            else:
                reason = Reason.cache_off() if not mode.writes else Reason.reads_disabled(mode.value)
                verdict = Verdict(False, new_run_id(), step.key, [reason])
            log_outcome(self.log, verdict.hit, verdict.key, verdict.source_run_id, verdict.reasons, settings)
            self.lineage_run_id = verdict.run_id
            if verdict.hit:
                self.log.info("no pod created: outputs %s", ", ".join(verdict.outputs))
                return self._result(context, _xcom(verdict.run_id, verdict.key, "hit", verdict.outputs,
                                                   verdict.source_run_id))
            pod_context = {"orchestrator": "airflow", "executor": "kubernetes", "image": self.image}
            plan = step.begin(verdict, pod_context)
        if not mode.writes:  # off, or a read-only miss: the pod runs as it is; the run is recorded, not cached
            return self._run_recorded(context, step, plan, {CACHE_ENV: mode.value})
        return self._run_cached(context, step, plan, plan_env(plan, XCOM_RESULT if self.do_xcom_push else None))

    def _run_cached(self, context: Any, step: CommandStep, plan: ExecPlan, env: dict[str, str]) -> Any:
        from lineage_core.integration import complete, result_from_json

        try:
            raw = self._launch(context, wrap=True, env=env)
        except BaseException as e:
            complete(step.store, plan, _result_of(plan, "FAILED", error=f"pod failed: {type(e).__name__}: {e}"))
            raise
        result: Any
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

    def _run_recorded(self, context: Any, step: CommandStep, plan: ExecPlan, env: dict[str, str]) -> Any:
        from lineage_core.integration import RunStatus, hash_outputs

        try:
            self._launch(context, wrap=False, env=env)
        except BaseException as e:
            step.runs.fail(plan.run_id, e)
            raise
        outputs, missing = hash_outputs(plan.outputs, step.store)  # what the XCom reports; nothing is cached
        if missing:
            self.log.warning("outputs not found from the worker (not in the XCom): %s", ", ".join(missing))
        step.runs.finish(plan.run_id, RunStatus.COMPLETED)
        return self._result(context, _xcom(plan.run_id, plan.key, "not stored", outputs, None))

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

        from lineage_core.integration import dataset_name

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


def _pod_arguments(task: ContainerTask, kwargs: dict[str, Any]) -> dict[str, Any]:
    """KubernetesPodOperator's arguments with ``task`` translated into them (added to what is given)."""
    kwargs = dict(kwargs)
    kwargs["secrets"] = [*(kwargs.get("secrets") or []),
                         *(Secret("env", s.var, s.secret, s.key)  # type: ignore[no-untyped-call]
                           for s in task.secret_envs())]
    resources = kwargs.get("container_resources") or k8s.V1ResourceRequirements()
    requests, limits = task.container_resources(resources.requests, resources.limits)  # GPU checks: ConfigError
    if requests or limits:
        resources.requests, resources.limits = requests or None, limits or None
        kwargs["container_resources"] = resources
    if task.gpu_type:
        kwargs["node_selector"] = {**(kwargs.get("node_selector") or {}), GPU_PRODUCT_LABEL: task.gpu_type}
    if task.gpu_toleration:
        kwargs["tolerations"] = [*(kwargs.get("tolerations") or []), k8s.V1Toleration(**task.gpu_toleration)]
    volumes, mounts = [], []
    if task.shm_size:
        volumes.append(k8s.V1Volume(name="dshm", empty_dir=k8s.V1EmptyDirVolumeSource(medium="Memory",
                                                                                      size_limit=task.shm_size)))
        mounts.append(k8s.V1VolumeMount(name="dshm", mount_path="/dev/shm"))  # noqa: S108
    for i, (claim, path) in enumerate(task.pvcs.items()):
        volumes.append(k8s.V1Volume(name=f"pvc-{i}", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
            claim_name=claim)))
        mounts.append(k8s.V1VolumeMount(name=f"pvc-{i}", mount_path=path))
    if volumes:
        kwargs["volumes"] = [*(kwargs.get("volumes") or []), *volumes]
        kwargs["volume_mounts"] = [*(kwargs.get("volume_mounts") or []), *mounts]
    if task.env:
        kwargs["env_vars"] = _with_env(kwargs.get("env_vars"), task.env)
    return kwargs


def _with_env(env_vars: Any, extra: Mapping[str, str]) -> Any:
    """``env_vars`` (a dict or V1EnvVars) plus the task's literal env; a name given twice is an error."""
    names = set(env_vars or {}) if isinstance(env_vars, dict) or not env_vars else {e.name for e in env_vars}
    twice = sorted(names & set(extra))
    if twice:
        raise ConfigError(f"env vars {twice} are given both in env_vars and in task.env: give each once")
    if isinstance(env_vars, dict) or not env_vars:
        return {**(env_vars or {}), **extra}
    return [*env_vars, *(k8s.V1EnvVar(name=k, value=v) for k, v in extra.items())]


def _xcom(run_id: str, key: str, cache: str, outputs: dict[str, str], source: str | None) -> dict[str, Any]:
    return {"outputs": outputs, "cache": cache, "key": key, "lineage_run_id": run_id, "source_run_id": source}


def _result_of(plan: ExecPlan, status: Literal["COMPLETED", "FAILED"], *, error: str | None = None,
               outputs: dict[str, str] | None = None) -> Any:
    from lineage_core.integration import CommandResult

    now = time.time()
    return CommandResult(run_id=plan.run_id, key=plan.key, job=plan.job, namespace=plan.namespace, status=status,
                         exit_code=0 if status == "COMPLETED" else 1, outputs=outputs or {}, started_at=now,
                         ended_at=now, error=None if error is None else error[:2000])


def _hashed_here(step: CommandStep, plan: ExecPlan) -> Any:
    """The pod left no result: hash the declared outputs from here (the run's environment stays unknown)."""
    from lineage_core.integration import hash_outputs

    outputs, _missing = hash_outputs(plan.outputs, step.store)  # complete() fails the run when one is missing
    return _result_of(plan, "COMPLETED", outputs=outputs)


def _literal_env(env_vars: Any) -> dict[str, str]:
    """Literal env values (``valueFrom`` secrets and field refs are not values, so not key material)."""
    if not env_vars:
        return {}
    if isinstance(env_vars, dict):
        return {str(k): str(v) for k, v in env_vars.items()}
    return {e.name: e.value for e in env_vars if getattr(e, "value", None) is not None}
