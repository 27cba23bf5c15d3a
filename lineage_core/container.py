"""A containerised (GPU) task, described once for every platform: :class:`ContainerTask`; and how a cached
container step is keyed: :class:`CacheSpec`.

Each orchestrator adapter translates these to its own platform — the Airflow ``CachedKubernetesPodOperator``
to a pod spec, a KFP component to task settings — so a GPU count, a secret or the lineage server's URL has one
name wherever it is written. Nothing here imports Kubernetes or KFP: the values are plain data, validated
when they are made (ConfigError), so a typo fails when the DAG or pipeline is defined, not in the pod.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError
from .modes import CacheMode
from .settings import ARTIFACTS_URL_ENV, OPENLINEAGE_API_KEY_ENV, OPENLINEAGE_URL_ENV, STORE_URL_ENV

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"  # set by NVIDIA GPU feature discovery on every GPU node
TOKEN_KEY = "token"  # noqa: S105 - the default key of the token secret, not a token
STORE_URL_KEY = "store-url"  # the default key of the store secret
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")  # a Kubernetes quantity
_PASSWORD_IN_URL = re.compile(r"://[^/@\s]*:[^/@\s]+@")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")  # a label value, as the API checks
# an extended resource's name: a DNS-subdomain prefix, '/', a name (no spaces, nothing the API server refuses)
_RESOURCE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_WHOLE = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class SecretEnv:
    """One environment variable from a key of a Kubernetes secret."""

    var: str
    secret: str
    key: str


def _secret_ref(ref: str, default_key: str) -> tuple[str, str]:
    """``name`` or ``name:key``."""
    name, _, key = ref.partition(":")
    return name, key or default_key


@dataclass(frozen=True)
class ContainerTask:
    """What a containerised task needs besides its image and command; everything optional.

    **Resources.** ``gpus`` of ``accelerator`` (the resource name, default ``nvidia.com/gpu``); ``gpu_type``
    (a node selector on the GPU product label, e.g. ``NVIDIA-A100-SXM4-80GB``); ``tolerate_gpu_taint`` (the
    GPU nodes' ``NoSchedule`` taint on the accelerator's name, default on); ``cpu`` / ``memory`` limits;
    ``shm_size`` (``/dev/shm`` as a memory-backed volume: PyTorch data loaders need more than the container
    default); ``pvcs`` (claim name → mount path); ``env`` (literal variables: key material for a cached
    command; put secrets in ``secret_env``).

    **Where lineage goes** (secrets are Kubernetes secrets, never literals). ``lineage_server_url``:
    ``OPENLINEAGE_URL``, where the task's events go. ``token_secret``: the lineage server's token as
    ``OPENLINEAGE_API_KEY``, from the secret's key ``token`` (``name`` or ``name:key``). The store, one of:
    ``server_store=True`` (the lineage server is the store: one URL, one secret, no database or bucket
    credentials in the task); ``store_secret`` (``LINEAGE_STORE_URL`` from the secret's key ``store-url``,
    ``name`` or ``name:key``: a PostgreSQL URL or a lineage server's); or ``store_url`` (a literal URL without
    a password). ``artifacts_url``: ``LINEAGE_ARTIFACTS_URL`` beside a database store. ``secret_env``: more
    secrets as env (secret name → {key: variable}, e.g. the object store's credentials).
    """

    gpus: int = 0
    accelerator: str = "nvidia.com/gpu"
    gpu_type: str | None = None
    tolerate_gpu_taint: bool = True
    cpu: str | None = None
    memory: str | None = None
    shm_size: str | None = None
    pvcs: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    lineage_server_url: str | None = None
    token_secret: str | None = None
    server_store: bool = False
    store_secret: str | None = None
    store_url: str | None = None
    artifacts_url: str | None = None
    secret_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.gpus, int) or isinstance(self.gpus, bool) or self.gpus < 0:
            raise ConfigError(f"gpus={self.gpus!r} must be a whole number, 0 or more "
                              "(a GPU is not shared: fractional GPUs are refused by the API server)")
        if not self.accelerator:
            raise ConfigError("accelerator must name the GPU resource (e.g. nvidia.com/gpu)")
        if not _RESOURCE_NAME.match(self.accelerator):
            raise ConfigError(f"accelerator={self.accelerator!r} is not an extended resource name "
                              "(domain/name, e.g. nvidia.com/gpu or amd.com/gpu)")
        if self.gpu_type and not self.gpus:
            raise ConfigError(f"gpu_type={self.gpu_type!r} without gpus: give gpus=1 or more")
        if self.gpu_type is not None and not (self.gpu_type and _LABEL_VALUE.match(self.gpu_type)):
            raise ConfigError(f"gpu_type={self.gpu_type!r} is not a valid node label value (at most 63 letters, "
                              "digits, '-', '_' or '.', starting and ending with a letter or digit, e.g. "
                              f"NVIDIA-A100-SXM4-80GB): the {GPU_PRODUCT_LABEL} label of a GPU node")
        for name in ("cpu", "memory", "shm_size"):
            value = getattr(self, name)
            if value is not None and not _QUANTITY.match(str(value)):
                raise ConfigError(f"{name}={value!r} is not a Kubernetes quantity (e.g. 500m, 4, 16Gi)")
        for claim, path in self.pvcs.items():
            if not claim or not str(path).startswith("/"):
                raise ConfigError(f"pvcs: {claim!r} → {path!r}: give a claim name and an absolute mount path")
        stores = [n for n in ("server_store", "store_secret", "store_url") if getattr(self, n)]
        if len(stores) > 1:
            raise ConfigError(f"{' and '.join(stores)}: give the task one store")
        if self.server_store:
            if not self.lineage_server_url or not self.token_secret:
                raise ConfigError("server_store=True needs lineage_server_url (the store) and token_secret (its token)")
            if self.artifacts_url:
                raise ConfigError("server_store=True: the lineage server is the store and keeps the artifacts; "
                                  "drop store_secret and artifacts_url")
        if self.store_url and _PASSWORD_IN_URL.search(self.store_url):
            raise ConfigError("store_url carries a password: put the URL in a Kubernetes secret (store_secret)")
        # detach from the caller's dicts (the value is frozen; its mappings are not shared)
        object.__setattr__(self, "pvcs", dict(self.pvcs))
        object.__setattr__(self, "env", {str(k): str(v) for k, v in self.env.items()})
        object.__setattr__(self, "secret_env", {s: dict(keys) for s, keys in self.secret_env.items()})

    @classmethod
    def pop_from(cls, options: dict[str, Any]) -> ContainerTask | None:
        """This class's fields taken out of a mixed options dict (None when there are none)."""
        given = {f.name: options.pop(f.name) for f in fields(cls) if f.name in options}
        return cls(**given) if given else None

    def replace(self, **changes: Any) -> ContainerTask:
        from dataclasses import replace

        return replace(self, **changes)

    # -- what every platform translates --------------------------------------------------------------
    def secret_envs(self) -> list[SecretEnv]:
        """The environment variables that come from secrets: the token, the store URL, ``secret_env``."""
        out: list[SecretEnv] = []
        if self.token_secret:
            out.append(SecretEnv(OPENLINEAGE_API_KEY_ENV, *_secret_ref(self.token_secret, TOKEN_KEY)))
        if self.store_secret:
            out.append(SecretEnv(STORE_URL_ENV, *_secret_ref(self.store_secret, STORE_URL_KEY)))
        for secret, keys in self.secret_env.items():
            out += [SecretEnv(var, secret, key) for key, var in keys.items()]
        return out

    def lineage_env(self) -> dict[str, str]:
        """The literal variables that say where lineage goes (not key material: where, not what)."""
        store = self.lineage_server_url if self.server_store else self.store_url
        env = {OPENLINEAGE_URL_ENV: self.lineage_server_url, STORE_URL_ENV: store,
               ARTIFACTS_URL_ENV: self.artifacts_url}
        return {k: v for k, v in env.items() if v}

    def resource_class(self) -> dict[str, Any]:
        """What of the hardware is key material for a cached command: the GPU resource, count and type."""
        return {"gpu_resource": self.accelerator, "gpus": self.gpus, "gpu_type": self.gpu_type} if self.gpus else {}

    def container_resources(self, requests: Mapping[str, Any] | None = None,
                            limits: Mapping[str, Any] | None = None) -> tuple[dict[str, str], dict[str, str]]:
        """The container's (requests, limits): the ones given (e.g. a pod operator's ``container_resources``)
        with this task's GPUs, cpu and memory limits added. A GPU is an extended resource, which the API server
        takes only as a whole number with its request equal to its limit: a fractional count, a request that
        differs from the limit, or a count other than ``gpus`` is a ConfigError here, before submission."""
        requests = {str(k): str(v) for k, v in (requests or {}).items()}
        limits = {str(k): str(v) for k, v in (limits or {}).items()}
        if self.gpus:
            for given, where in ((requests, "requests"), (limits, "limits")):
                if given.get(self.accelerator, str(self.gpus)) != str(self.gpus):
                    raise ConfigError(f"{self.accelerator}: {where} {given[self.accelerator]!r} and gpus={self.gpus}:"
                                      " give the GPU count once, as gpus")
            limits[self.accelerator] = str(self.gpus)
        limits.update({k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v})
        for name in sorted({*requests, *limits} - {"cpu", "memory", "ephemeral-storage"}):
            if "/" not in name or name.startswith(("kubernetes.io/", "hugepages-")):
                continue  # not an extended resource
            request, limit = requests.get(name), limits.get(name)
            for value in (request, limit):
                if value is not None and not _WHOLE.match(value):
                    raise ConfigError(f"{name}={value!r}: an extended resource (a GPU) is a whole number; "
                                      "fractional GPUs (e.g. 500m) are refused by the API server")
            if request is not None and request != limit:
                raise ConfigError(f"{name}: request {request} differs from limit {limit}: the API server takes "
                                  "an extended resource (a GPU) only with its request equal to its limit")
        return requests, limits

    @property
    def gpu_toleration(self) -> dict[str, str] | None:
        """The toleration of the GPU nodes' taint (key = the accelerator), when the task takes GPUs and asks."""
        if not (self.gpus and self.tolerate_gpu_taint):
            return None
        return {"key": self.accelerator, "operator": "Exists", "effect": "NoSchedule"}


@dataclass(frozen=True)
class CacheSpec:
    """How a cached container step is keyed and looked up (its inputs and outputs are the adapter's, templated).

    ``name``: the job (default ``<dag>.<task>`` or the component's). ``namespace``: the key's scope (default
    ``$LINEAGE_NAMESPACE``). ``version``: a salt bumped by hand. ``mode``: ``off|read|write|readwrite``
    (default ``$LINEAGE_CACHE``). ``require_digest``: refuse an image not pinned by ``@sha256:`` (a tag may
    move under the same key; by default it is keyed by name, with a warning).
    """

    name: str | None = None
    namespace: str | None = None
    version: str | int | None = None
    mode: CacheMode | str | bool | None = None
    require_digest: bool = False

    def __post_init__(self) -> None:
        if self.mode is not None:
            object.__setattr__(self, "mode", CacheMode.parse(self.mode, "mode"))
        if self.version is not None:
            object.__setattr__(self, "version", str(self.version))
