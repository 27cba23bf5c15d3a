"""The layer's settings as one frozen value: :class:`Settings`.

:meth:`Settings.from_env` reads them from the environment (the variable names are the ``*_ENV`` constants
below, the one place they are spelled). An adapter that configures the core from its own configuration (the
Airflow connection) builds a ``Settings`` and makes it current for a block with :func:`use` — never by
writing ``os.environ``. :meth:`Settings.current` is the one in use, else the environment's, read at call time
(so tests and long-lived workers can change it).

The most specific setting wins: per call (``refresh=True``) > per step (``@cached(cache=...)``) >
global (``LINEAGE_CACHE``). ``LINEAGE_DISABLED=true`` turns the whole layer into a no-op.

The module functions (:func:`disabled`, :func:`global_cache_mode`, :func:`namespace`, :func:`lineage_home`,
…) are fields of :meth:`Settings.current`. They are on every cached call's path, so outside :func:`use` each
reads only its own variable, with the reader :meth:`Settings.from_env` uses: the same value, without reading
the others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import field
from functools import cached_property
from pathlib import Path
from typing import Any

from .environ import environ
from .errors import ConfigError
from .modes import CacheMode, parse_verify
from .records import record

# -- the environment variables, by setting ------------------------------------------------------------
HOME_ENV = "LINEAGE_HOME"  # the local store's directory (SQLite database, artifacts, caches, spool)
STORE_URL_ENV = "LINEAGE_STORE_URL"  # a database URL, or a lineage server's http(s) URL
ARTIFACTS_URL_ENV = "LINEAGE_ARTIFACTS_URL"  # beside a database store: file://, s3://, gs://…
ARTIFACTS_OPTIONS_ENV = "LINEAGE_ARTIFACTS_OPTIONS"  # extra fsspec options as a JSON object (no credentials)
NAMESPACE_ENV = "LINEAGE_NAMESPACE"
CACHE_ENV = "LINEAGE_CACHE"  # off | read | write | readwrite
VERIFY_ENV = "LINEAGE_VERIFY"  # stat (default: a large local blob's stat identity vouches for it) | always
DISABLED_ENV = "LINEAGE_DISABLED"
STORE_TOKEN_ENVS = ("LINEAGE_STORE_TOKEN", "OPENLINEAGE_API_KEY")  # a lineage server store's bearer token
WAIT_TIMEOUT_ENV = "LINEAGE_WAIT_TIMEOUT"  # seconds a single-flight waiter waits for the leader
LEASE_TTL_ENV = "LINEAGE_LEASE_TTL"  # seconds a single-flight lease lives without a heartbeat
SPOOL_MAX_BYTES_ENV = "LINEAGE_SPOOL_MAX_BYTES"  # the OpenLineage spool file's bound
BLOB_CACHE_ENV = "LINEAGE_BLOB_CACHE"  # a server store's node-local verified blob cache (a directory, or "off")
BLOB_CACHE_MAX_BYTES_ENV = "LINEAGE_BLOB_CACHE_MAX_BYTES"  # … and its size bound (least recently used go first)
IMAGE_DIGEST_ENV = "LINEAGE_IMAGE_DIGEST"  # the container image's digest, set by the orchestrator
PODINFO_IMAGE_FILE_ENV = "LINEAGE_PODINFO_IMAGE_FILE"  # a downward-API file naming the pod's imageID
ENV_ALLOWLIST_ENV = "LINEAGE_ENV_ALLOWLIST"  # more env var patterns to record (comma-separated)
EXPORT_TOKEN_ENV = "LINEAGE_EXPORT_TOKEN"  # noqa: S105 - a name; the token of ``lineage events export``
SERVER_TOKENS_ENV = "LINEAGE_SERVER_TOKENS"  # the lineage server's accepted tokens (comma-separated)
SERVER_TOKEN_FILE_ENV = "LINEAGE_SERVER_TOKEN_FILE"  # noqa: S105 - a name; … or a file of tokens, one a line
SERVER_ANONYMOUS_READ_ENV = "LINEAGE_SERVER_ANONYMOUS_READ"  # "lineage": the Marquez read API needs no token
# The hand-over between an orchestrator and ``lineage exec`` in its container (a plan, not a setting).
PLAN_ENV = "LINEAGE_EXEC"  # the ExecPlan (JSON)
RESULT_ENV = "LINEAGE_EXEC_RESULT"  # where ``lineage exec`` writes its CommandResult
OPENLINEAGE_URL_ENV = "OPENLINEAGE_URL"  # the OpenLineage client's own: where events go (set in pods)
OPENLINEAGE_API_KEY_ENV = STORE_TOKEN_ENVS[1]  # … and its token


def is_server_url(url: str) -> bool:
    """An http(s) store URL names a lineage server (the store over its API), anything else a database."""
    return url.startswith(("http://", "https://"))


def default_home() -> Path:
    return Path.home() / ".lineage"


def _store_in(url: str | None, home: Path) -> str:
    return url or f"sqlite:///{home / 'lineage.db'}"


def _artifacts_in(url: str | None, home: Path) -> str:
    return url or (home / "artifacts").as_uri()


# -- readers: one per setting, from an environment mapping (what from_env and the module functions share) --
Environ = Mapping[str, str]


def _text(env: Environ, name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _positive(env: Environ, name: str, default: float) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be positive")
    return value


def _read_home(env: Environ) -> Path:
    raw = env.get(HOME_ENV)
    if raw:
        return Path(raw).expanduser()
    return Path(env["HOME"]) / ".lineage" if env.get("HOME") else default_home()


def _read_token(env: Environ) -> str | None:
    for name in STORE_TOKEN_ENVS:
        value = _text(env, name)
        if value:
            return value
    return None


def _read_options(env: Environ) -> dict[str, Any]:
    raw = env.get(ARTIFACTS_OPTIONS_ENV)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise ConfigError(f"{ARTIFACTS_OPTIONS_ENV} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{ARTIFACTS_OPTIONS_ENV} must be a JSON object")
    return value


def _read_bytes(env: Environ, name: str, default: int) -> int:
    raw = _text(env, name)
    try:
        return default if raw is None else int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of bytes") from None


def _read_list(env: Environ, name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in env.get(name, "").split(",") if p.strip())


def _read_anonymous_read(env: Environ) -> str | None:
    value = _text(env, SERVER_ANONYMOUS_READ_ENV)
    if value not in (None, "lineage"):
        raise ConfigError(f"{SERVER_ANONYMOUS_READ_ENV}={value!r}: the only value is 'lineage' (the Marquez read API)")
    return value


def _read_disabled(env: Environ) -> bool:
    return env.get(DISABLED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _read_cache_mode(env: Environ) -> CacheMode:
    return CacheMode.parse(env.get(CACHE_ENV), CACHE_ENV)


def _read_verify(env: Environ) -> str:
    return parse_verify(env.get(VERIFY_ENV), VERIFY_ENV)


def _read_namespace(env: Environ) -> str:
    return env.get(NAMESPACE_ENV) or "default"


_READERS: dict[str, Callable[[Environ], Any]] = {
    "home": _read_home,
    "store_url": lambda env: env.get(STORE_URL_ENV) or None,
    "artifacts_url": lambda env: env.get(ARTIFACTS_URL_ENV) or None,
    "artifacts_options": _read_options,
    "namespace": _read_namespace,
    "cache_mode": _read_cache_mode,
    "verify": _read_verify,
    "disabled": _read_disabled,
    "store_token": _read_token,
    "wait_timeout": lambda env: _positive(env, WAIT_TIMEOUT_ENV, 3600.0),
    "lease_ttl": lambda env: _positive(env, LEASE_TTL_ENV, 30.0),
    "spool_max_bytes": lambda env: _read_bytes(env, SPOOL_MAX_BYTES_ENV, 64 << 20),
    "blob_cache": lambda env: _text(env, BLOB_CACHE_ENV),
    "blob_cache_max_bytes": lambda env: _read_bytes(env, BLOB_CACHE_MAX_BYTES_ENV, 10 << 30),
    "image_digest": lambda env: _text(env, IMAGE_DIGEST_ENV),
    "podinfo_image_file": lambda env: env.get(PODINFO_IMAGE_FILE_ENV) or "/etc/podinfo/image",
    "env_allowlist": lambda env: _read_list(env, ENV_ALLOWLIST_ENV),
    "export_token": lambda env: _text(env, EXPORT_TOKEN_ENV),
    "server_tokens": lambda env: _read_list(env, SERVER_TOKENS_ENV),
    "server_token_file": lambda env: env.get(SERVER_TOKEN_FILE_ENV) or None,
    "server_anonymous_read": _read_anonymous_read,
}


@record
class Settings:
    """Every setting of the layer (the variable each comes from: the ``*_ENV`` constants).

    ``store_url`` / ``artifacts_url`` are None when not given: the store is then the SQLite database in
    ``home`` and the artifacts lie beside the store (:attr:`resolved_store_url`,
    :attr:`resolved_artifacts_url`). Tokens and URL passwords never appear in the ``repr``. A frozen dataclass
    whose ``__init__`` is written out (:mod:`lineage_core.records`: nothing compiled at import).
    """

    home: Path = field(default_factory=default_home)
    store_url: str | None = None
    artifacts_url: str | None = None
    artifacts_options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    namespace: str = "default"
    cache_mode: CacheMode = CacheMode.READWRITE
    verify: str = "stat"
    disabled: bool = False
    store_token: str | None = None
    wait_timeout: float = 3600.0
    lease_ttl: float = 30.0
    spool_max_bytes: int = 64 << 20
    blob_cache: str | None = None  # None: $LINEAGE_HOME/blob-cache; "off": none (store.blob_cache.BlobCache)
    blob_cache_max_bytes: int = 10 << 30
    image_digest: str | None = None
    podinfo_image_file: str = "/etc/podinfo/image"
    env_allowlist: tuple[str, ...] = ()
    export_token: str | None = None
    server_tokens: tuple[str, ...] = ()
    server_token_file: str | None = None
    server_anonymous_read: str | None = None  # "lineage": the Marquez read API is open without a token

    def __init__(self, home: Path | str | None = None, store_url: str | None = None, artifacts_url: str | None = None,
                 artifacts_options: Mapping[str, Any] | None = None, namespace: str = "default",
                 cache_mode: CacheMode | str = CacheMode.READWRITE, verify: str = "stat", disabled: bool = False,
                 store_token: str | None = None, wait_timeout: float = 3600.0, lease_ttl: float = 30.0,
                 spool_max_bytes: int = 64 << 20, blob_cache: str | None = None, blob_cache_max_bytes: int = 10 << 30,
                 image_digest: str | None = None, podinfo_image_file: str = "/etc/podinfo/image",
                 env_allowlist: Iterable[str] = (), export_token: str | None = None,
                 server_tokens: Iterable[str] = (), server_token_file: str | None = None,
                 server_anonymous_read: str | None = None) -> None:
        home = default_home() if home is None else Path(home).expanduser()
        cache_mode, verify = CacheMode.parse(cache_mode, "cache_mode"), parse_verify(verify, "verify")
        for name, seconds in (("wait_timeout", wait_timeout), ("lease_ttl", lease_ttl)):
            if not seconds > 0:
                raise ConfigError(f"{name}={seconds!r} must be a positive number of seconds")
        if spool_max_bytes < 0:
            raise ConfigError(f"spool_max_bytes={spool_max_bytes!r} must be 0 or more")
        if artifacts_options is None:
            artifacts_options = {}
        elif not isinstance(artifacts_options, Mapping):
            raise ConfigError("artifacts_options must be a mapping (fsspec options)")
        if not namespace:
            raise ConfigError("namespace must not be empty")
        self.__dict__.update(  # frozen: set here, in field order, the few loosely given ones normalised
            home=home, store_url=store_url, artifacts_url=artifacts_url, artifacts_options=artifacts_options,
            namespace=namespace, cache_mode=cache_mode, verify=verify, disabled=disabled, store_token=store_token,
            wait_timeout=wait_timeout, lease_ttl=lease_ttl, spool_max_bytes=spool_max_bytes, blob_cache=blob_cache,
            blob_cache_max_bytes=blob_cache_max_bytes, image_digest=image_digest, podinfo_image_file=podinfo_image_file,
            env_allowlist=tuple(env_allowlist), export_token=export_token, server_tokens=tuple(server_tokens),
            server_token_file=server_token_file, server_anonymous_read=server_anonymous_read)

    @classmethod
    def from_env(cls, environ: Environ | None = None) -> Settings:
        """The settings ``environ`` (default: this process's environment) names; a bad value is a ConfigError."""
        env = os.environ if environ is None else environ
        return cls(**{name: read(env) for name, read in _READERS.items()})

    @classmethod
    def current(cls) -> Settings:
        """The settings in :func:`use`, else the environment's (read now)."""
        active = _active.get()
        return active if active is not None else cls.from_env()

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    @cached_property
    def resolved_store_url(self) -> str:
        return _store_in(self.store_url, self.home)

    @cached_property
    def resolved_artifacts_url(self) -> str:
        return _artifacts_in(self.artifacts_url, self.home)

    @property
    def server_store(self) -> bool:
        """The store is a lineage server (over its API), not a database."""
        return is_server_url(self.resolved_store_url)

    @cached_property
    def store_identity(self) -> tuple[str | None, ...]:
        """What tells two stores apart: the URLs, and for a server store the token too."""
        url = self.resolved_store_url
        return (url, self.resolved_artifacts_url, *((self.store_token,) if is_server_url(url) else ()))

    def __repr__(self) -> str:
        from .redact import REDACTED, redact_url

        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown.update({n: REDACTED for n in ("store_token", "export_token", "server_tokens") if shown[n]})
        shown.update({n: redact_url(shown[n]) for n in ("store_url", "artifacts_url") if shown[n]})
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


_active: ContextVar[Settings | None] = ContextVar("lineage_settings", default=None)


@contextlib.contextmanager
def use(settings: Settings) -> Iterator[Settings]:
    """Make ``settings`` current in this block (this thread or task, and what it calls): how an adapter hands
    the core its configuration without touching ``os.environ``. Blocks nest; the innermost wins."""
    if not isinstance(settings, Settings):
        raise ConfigError(f"use() takes a Settings, not {type(settings).__name__}")
    token = _active.set(settings)
    try:
        yield settings
    finally:
        _active.reset(token)


active: Callable[[], Settings | None] = _active.get  # the settings of the enclosing use(), or None


def _current(name: str) -> Any:
    s = _active.get()
    return getattr(s, name) if s is not None else _READERS[name](environ)


# -- the current settings' fields (cheap: see the module docstring) -------------------------------------
# The three every cached call reads call their readers directly.
def disabled() -> bool:
    s = _active.get()
    return s.disabled if s is not None else _read_disabled(environ)


def global_cache_mode() -> CacheMode:
    s = _active.get()
    return s.cache_mode if s is not None else _read_cache_mode(environ)


def verify_mode() -> str:
    s = _active.get()
    return s.verify if s is not None else _read_verify(environ)


def namespace(explicit: str | None = None) -> str:
    """The scope a step's key and job live in: the step's own ``namespace=``, else ``$LINEAGE_NAMESPACE``."""
    if explicit:
        return explicit
    s = _active.get()
    return s.namespace if s is not None else _read_namespace(environ)


def lineage_home() -> Path:
    return _current("home")  # type: ignore[no-any-return]


def store_token() -> str | None:
    return _current("store_token")  # type: ignore[no-any-return]


def store_url() -> str:
    s = _active.get()
    return s.resolved_store_url if s is not None else _store_in(environ.get(STORE_URL_ENV), lineage_home())


def artifacts_url() -> str:
    s = _active.get()
    return s.resolved_artifacts_url if s is not None else _artifacts_in(environ.get(ARTIFACTS_URL_ENV),
                                                                         lineage_home())


def wait_timeout() -> float:
    return float(_current("wait_timeout"))


def lease_ttl() -> float:
    return float(_current("lease_ttl"))


def spool_max_bytes() -> int:
    return int(_current("spool_max_bytes"))
