"""Process-wide state of the cache layer: the open store per settings and the environment snapshot per
source directory. Both are built once per process and looked up cheaply on every call."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from . import settings
from .environment import EnvironmentSnapshot, capture_environment

if TYPE_CHECKING:
    from .store import CacheStore

_stores: dict[tuple[str | None, ...], CacheStore] = {}
_stores_lock = threading.Lock()
_envs: dict[str, EnvironmentSnapshot] = {}


_store_by_env: dict[tuple[str | None, ...], CacheStore] = {}


def open_store(store_url: str, artifacts_url: str) -> CacheStore:
    """A database URL opens the SQL store (with the artifact store at ``artifacts_url``); an http(s) URL is
    a lineage server, which keeps runs and artifacts for tasks that hold only its token."""
    if settings.is_server_url(store_url):
        from .store.remote import RemoteStore

        return RemoteStore.connect(store_url)
    from .store import Store  # SQLAlchemy loads on first use, not on import

    return Store.from_url(store_url, artifacts_url)


def default_store() -> CacheStore:
    """The store for the current settings (opened once per URL pair and token in a process).

    Looked up by the raw setting strings first, so the hit path does not rebuild paths and URLs.
    """
    env = os.environ
    tokens = tuple(env.get(name) for name in settings.STORE_TOKEN_ENVS)
    raw = (env.get("LINEAGE_STORE_URL"), env.get("LINEAGE_ARTIFACTS_URL"), env.get("LINEAGE_HOME"), env.get("HOME"),
           *tokens)
    store = _store_by_env.get(raw)
    if store is not None:
        return store
    url, artifacts = settings.store_url(), settings.artifacts_url()
    k = (url, artifacts, *tokens) if settings.is_server_url(url) else (url, artifacts)
    with _stores_lock:
        store = _stores.get(k)
        if store is None:
            store = _stores[k] = open_store(url, artifacts)
        _store_by_env[raw] = store
    return store


def process_environment(git_dir: str | None = None) -> EnvironmentSnapshot:
    """This process's environment, with the git state of ``git_dir`` (captured once per directory)."""
    d = git_dir or os.getcwd()
    env = _envs.get(d)
    if env is None:
        env = _envs[d] = capture_environment(d)
    return env
