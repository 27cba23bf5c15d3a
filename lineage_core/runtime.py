"""Process-wide state of the cache layer: the open store per settings and the environment snapshot per
source directory. Both are built once per process and looked up cheaply on every call."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from . import settings
from .environment import EnvironmentSnapshot, capture_environment

if TYPE_CHECKING:
    from .store import Store

_stores: dict[tuple[str, str], Store] = {}
_stores_lock = threading.Lock()
_envs: dict[str, EnvironmentSnapshot] = {}


_store_by_env: dict[tuple[str | None, ...], Store] = {}


def default_store() -> Store:
    """The store for the current settings (opened once per URL pair in a process).

    Looked up by the raw setting strings first, so the hit path does not rebuild paths and URLs.
    """
    env = os.environ
    raw = (env.get("LINEAGE_STORE_URL"), env.get("LINEAGE_ARTIFACTS_URL"), env.get("LINEAGE_HOME"), env.get("HOME"))
    store = _store_by_env.get(raw)
    if store is not None:
        return store
    k = (settings.store_url(), settings.artifacts_url())
    with _stores_lock:
        store = _stores.get(k)
        if store is None:
            from .store import Store  # SQLAlchemy loads on first use, not on import

            store = _stores[k] = Store.from_url(*k)
        _store_by_env[raw] = store
    return store


def process_environment(git_dir: str | None = None) -> EnvironmentSnapshot:
    """This process's environment, with the git state of ``git_dir`` (captured once per directory)."""
    d = git_dir or os.getcwd()
    env = _envs.get(d)
    if env is None:
        env = _envs[d] = capture_environment(d)
    return env
