"""The integration surface: everything an orchestrator adapter may use, and the one module it imports.

The Airflow provider (``providers/lineage_airflow``) and the KFP components (``kfp_components/lineage_kfp``)
import from here and from the top-level ``lineage_core`` package only. What is named in ``__all__`` is the
contract between the core and its adapters: it changes only with the adapters, in the same commit; anything
else in ``lineage_core`` may change under them. Names load on first use (like ``lineage_core`` itself), so
importing this module costs nothing at DAG-parse or component-compile time.

What an adapter may rely on:

* **Settings** — :class:`Settings` (frozen; ``from_env()``, ``current()``, ``replace()``), :func:`use_settings`
  (make settings current for a block: how an adapter passes its own configuration, never ``os.environ``),
  :func:`default_store` (the store for given settings, opened once per distinct store), the ``*_ENV`` names an
  adapter writes into a container's environment, :class:`CacheMode`.
* **Cached functions** — :func:`cached`, :class:`CachedFunction` with its public hooks for subclasses
  (``key_arguments``, ``invoke``, ``restore_destination``) and ``passes_by_reference``; :func:`explain` and
  :class:`Outcome`; :data:`CACHE_OPTIONS` (the options ``cached`` takes, which adapters accept beside their
  own). The null path: when ``not step.passes_by_reference`` (``LINEAGE_DISABLED``, ``LINEAGE_CACHE=off|read``)
  an adapter calls ``step(...)`` and passes the plain value on, as the orchestrator would without us.
* **Values between steps** — :class:`ArtifactRef` (``to_dict``/``from_dict``/``is_ref``), :func:`as_ref`;
  the cache's materializers for a value an adapter writes itself (the null path's plain value):
  :func:`materializer_for`, :func:`materializer_by_id`, :class:`SaveContext`, :class:`LoadContext` and a local
  :class:`ArtifactStore` for the blobs of a directory tree.
* **Cached commands** (a container decided by the orchestrator) — :class:`CommandSpec`, :class:`CommandStep`
  (``check()``, ``begin()``, ``recorded_outputs()``, ``runs``), :class:`Verdict`, :class:`ExecPlan`,
  :class:`CommandResult`, :func:`complete`, :func:`image_pinned`, :func:`plan_env`, :func:`result_from_json`,
  :func:`hash_outputs`; :class:`RunStatus` and :class:`Reason` for a run an adapter records itself.
* **Containers** — :class:`ContainerTask` (a containerised, possibly GPU, task: one set of names that every
  platform translates) and :class:`CacheSpec` (how a cached container step is keyed), both validated with
  ConfigError; :data:`GPU_PRODUCT_LABEL`.
* **Run context and lineage** — :func:`run_context` (who runs the step; the OpenLineage parent),
  :func:`outcome_reported_by_caller` (the adapter logs each call's ``cache hit``/``cache miss`` line itself),
  :func:`run_events` (a run's OpenLineage events, built from the store), :func:`run_summary` (a run's job and
  context, what a hit's log line names, without opening the SQL store for it), :func:`dataset_name`,
  :func:`run_uuid`, :func:`new_run_id`, :func:`short` (a key as logs show it).
* **Inputs by content** — :class:`Uri`, :func:`hash_path`.
* **Errors** — :class:`LineageError` and the subclasses adapters raise or catch: :class:`ConfigError`,
  :class:`SignatureError`, :class:`MaterializerError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ARTIFACTS_URL_ENV",
    "CACHE_ENV",
    "CACHE_OPTIONS",
    "DISABLED_ENV",
    "GPU_PRODUCT_LABEL",
    "HOME_ENV",
    "IMAGE_DIGEST_ENV",
    "OPENLINEAGE_API_KEY_ENV",
    "OPENLINEAGE_URL_ENV",
    "STORE_URL_ENV",
    "ArtifactRef",
    "ArtifactStore",
    "CacheMode",
    "CacheSpec",
    "CacheStore",
    "CachedFunction",
    "CommandResult",
    "CommandSpec",
    "CommandStep",
    "ConfigError",
    "ContainerTask",
    "ExecPlan",
    "LineageError",
    "LoadContext",
    "MaterializerError",
    "Outcome",
    "Reason",
    "RunStatus",
    "SaveContext",
    "Settings",
    "SignatureError",
    "Uri",
    "Verdict",
    "as_ref",
    "cached",
    "complete",
    "dataset_name",
    "default_store",
    "explain",
    "hash_outputs",
    "hash_path",
    "image_pinned",
    "materializer_by_id",
    "materializer_for",
    "new_run_id",
    "outcome_reported_by_caller",
    "plan_env",
    "result_from_json",
    "run_context",
    "run_events",
    "run_summary",
    "run_uuid",
    "short",
    "use_settings",
]

_FROM = {
    "settings": ("ARTIFACTS_URL_ENV", "CACHE_ENV", "DISABLED_ENV", "HOME_ENV", "IMAGE_DIGEST_ENV",
                 "OPENLINEAGE_API_KEY_ENV", "OPENLINEAGE_URL_ENV", "STORE_URL_ENV", "Settings"),
    "modes": ("CacheMode",),
    "runtime": ("default_store",),
    "cache": ("CACHE_OPTIONS", "CachedFunction", "Outcome", "cached", "explain"),
    "refs": ("ArtifactRef", "as_ref"),
    "commands": ("CommandResult", "CommandSpec", "CommandStep", "ExecPlan", "Verdict", "complete", "image_pinned"),
    "execution": ("hash_outputs", "plan_env", "result_from_json"),
    "runs": ("Reason", "RunStatus"),
    "context": ("outcome_reported_by_caller", "run_context"),
    "ids": ("new_run_id", "run_uuid"),
    "keys": ("short",),
    "container": ("GPU_PRODUCT_LABEL", "CacheSpec", "ContainerTask"),
    "store.materializers": ("LoadContext", "SaveContext", "materializer_by_id", "materializer_for"),
    "store.artifacts": ("ArtifactStore",),
    "openlineage.naming": ("dataset_name",),
    "hashing.remote": ("Uri",),
    "hashing.content": ("hash_path",),
    "errors": ("ConfigError", "LineageError", "MaterializerError", "SignatureError"),
    "store": ("CacheStore",),
}
_MODULE = {name: module for module, names in _FROM.items() for name in names}
_MODULE.update(use_settings="settings", run_events="integration", run_summary="integration")

if TYPE_CHECKING:
    from .cache import CACHE_OPTIONS, CachedFunction, Outcome, cached, explain
    from .commands import CommandResult, CommandSpec, CommandStep, ExecPlan, Verdict, complete, image_pinned
    from .container import GPU_PRODUCT_LABEL, CacheSpec, ContainerTask
    from .context import outcome_reported_by_caller, run_context
    from .errors import ConfigError, LineageError, MaterializerError, SignatureError
    from .execution import hash_outputs, plan_env, result_from_json
    from .hashing.content import hash_path
    from .hashing.remote import Uri
    from .ids import new_run_id, run_uuid
    from .keys import short
    from .modes import CacheMode
    from .openlineage.naming import dataset_name
    from .refs import ArtifactRef, as_ref
    from .runs import Reason, RunStatus
    from .runtime import default_store
    from .settings import (
        ARTIFACTS_URL_ENV,
        CACHE_ENV,
        DISABLED_ENV,
        HOME_ENV,
        IMAGE_DIGEST_ENV,
        OPENLINEAGE_API_KEY_ENV,
        OPENLINEAGE_URL_ENV,
        STORE_URL_ENV,
        Settings,
    )
    from .settings import use as use_settings
    from .store import CacheStore
    from .store.artifacts import ArtifactStore
    from .store.materializers import LoadContext, SaveContext, materializer_by_id, materializer_for


def run_events(store: CacheStore, run_id: str) -> list[Any]:
    """The OpenLineage ``RunEvent``\\ s of one of our runs (START, then the terminal one), built from the store."""
    from .openlineage.events import build_event
    from .openlineage.records import run_records

    return [build_event(r) for r in run_records(store, run_id)]


def run_summary(store: CacheStore, run_id: str) -> tuple[str, dict[str, Any]]:
    """(job name, context) of the run with this id: on the embedded SQLite store's sqlite3 path where the store has
    one (so a fresh worker's first hit does not open the SQL store, and import SQLAlchemy, to write its log line),
    else from ``get_run``."""
    fast = getattr(type(store), "run_summary", None)  # on the class: the store's __getattr__ would open the SQL store
    if fast is not None:
        job, context = fast(store, run_id)
        return str(job), dict(context)
    run = store.get_run(run_id)
    return str(run["job"]), dict(run.get("context") or {})


def __getattr__(name: str) -> Any:
    module = _MODULE.get(name)
    if module is None or module == "integration":
        raise AttributeError(f"module 'lineage_core.integration' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __package__), "use" if name == "use_settings" else name)
    globals()[name] = value
    return value
