"""Process-wide state of the cache layer: the open store per settings and the environment snapshot per
source directory. Both are built once per process and looked up cheaply on every call."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from . import settings as _settings
from .environ import reader
from .environment import EnvironmentSnapshot, capture_environment
from .settings import Settings

if TYPE_CHECKING:
    from .store import CacheStore

_stores: dict[tuple[str | None, ...], CacheStore] = {}  # by Settings.store_identity
_stores_lock = threading.Lock()
_envs: dict[str, EnvironmentSnapshot] = {}

# The variables that decide the environment's store, read raw on every call outside settings.use(): the hit
# path looks the store up by these strings without building a Settings.
_STORE_ENVS = (_settings.STORE_URL_ENV, _settings.ARTIFACTS_URL_ENV, _settings.HOME_ENV, "HOME",
               *_settings.STORE_TOKEN_ENVS)
_store_envs = reader(_STORE_ENVS)
_store_by_env: dict[tuple[object, ...], CacheStore] = {}
_active = _settings.active


def open_store(settings: Settings) -> CacheStore:
    """A new store for ``settings``: a database URL opens the SQL store (with the artifact store at the
    artifacts URL; on a SQLite file the hit path runs on sqlite3, see store.fast_sqlite); an http(s) URL is a
    lineage server, which keeps runs and artifacts for tasks that hold only its token. What the store reads while
    opening (its home, artifact options, token) is ``settings``'."""
    with _settings.use(settings):
        if settings.server_store:
            from .store.remote import RemoteStore

            return RemoteStore.connect(settings.resolved_store_url, settings.store_token)
        from .store.fast_sqlite import FastSqliteStore  # a SQLite file: the hit path without SQLAlchemy

        fast = FastSqliteStore.open(settings.resolved_store_url, settings.resolved_artifacts_url)
        if fast is not None:
            return fast
        from .store import Store  # SQLAlchemy loads on first use, not on import

        return Store.from_url(settings.resolved_store_url, settings.resolved_artifacts_url)


def default_store(settings: Settings | None = None) -> CacheStore:
    """The store for ``settings`` (default: :meth:`Settings.current`), opened once per distinct store in a
    process (same URLs, and for a server store the same token)."""
    s = settings if settings is not None else _active()
    if s is None:
        raw = _store_envs()
        store = _store_by_env.get(raw)
        if store is None:
            store = _store_by_env[raw] = _store_for(Settings.from_env())
        return store
    return _store_for(s)


def _store_for(s: Settings) -> CacheStore:
    key = s.store_identity
    store = _stores.get(key)
    if store is None:
        with _stores_lock:
            store = _stores.get(key)
            if store is None:
                store = _stores[key] = open_store(s)
    return store


def close_stores() -> None:
    """Close every store this process opened (tests; a worker about to fork)."""
    with _stores_lock:
        stores = list(_stores.values())
        _stores.clear()
        _store_by_env.clear()
    for store in stores:
        store.close()


def process_environment(git_dir: str | None = None) -> EnvironmentSnapshot:
    """This process's environment, with the git state of ``git_dir`` (captured once per directory)."""
    d = git_dir or os.getcwd()
    env = _envs.get(d)
    if env is None:
        env = _envs[d] = capture_environment(d)
    return env
