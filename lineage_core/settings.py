"""Settings read from the environment at call time (so tests and long-lived workers can change them).

The most specific setting wins: per call (``refresh=True``) > per step (``@cached(cache=...)``) >
global (``LINEAGE_CACHE``). ``LINEAGE_DISABLED=true`` turns the whole layer into a no-op.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

from .errors import ConfigError


class CacheMode(str, Enum):
    OFF = "off"
    READ = "read"
    WRITE = "write"
    READWRITE = "readwrite"

    @property
    def reads(self) -> bool:
        return self in (CacheMode.READ, CacheMode.READWRITE)

    @property
    def writes(self) -> bool:
        return self in (CacheMode.WRITE, CacheMode.READWRITE)

    @classmethod
    def parse(cls, value: str | CacheMode | bool | None, source: str) -> CacheMode:
        if isinstance(value, CacheMode):
            return value
        if value is True:
            return cls.READWRITE
        if value is False:
            return cls.OFF
        try:
            return cls((value or "readwrite").strip().lower())
        except ValueError:
            allowed = "|".join(m.value for m in cls)
            raise ConfigError(f"{source}={value!r} is not one of {allowed}") from None


def disabled() -> bool:
    return os.environ.get("LINEAGE_DISABLED", "").strip().lower() in ("1", "true", "yes", "on")


def global_cache_mode() -> CacheMode:
    return CacheMode.parse(os.environ.get("LINEAGE_CACHE"), "LINEAGE_CACHE")


def lineage_home() -> Path:
    return Path(os.environ.get("LINEAGE_HOME") or Path.home() / ".lineage").expanduser()


def namespace(explicit: str | None = None) -> str:
    """The scope a step's key and job live in: the step's own ``namespace=``, else ``$LINEAGE_NAMESPACE``."""
    return explicit or os.environ.get("LINEAGE_NAMESPACE", "default")


STORE_TOKEN_ENVS = ("LINEAGE_STORE_TOKEN", "OPENLINEAGE_API_KEY")  # a lineage server store's bearer token


def is_server_url(url: str) -> bool:
    """An http(s) store URL names a lineage server (the store over its API), anything else a database."""
    return url.startswith(("http://", "https://"))


def store_token() -> str | None:
    for name in STORE_TOKEN_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def store_url() -> str:
    return os.environ.get("LINEAGE_STORE_URL") or f"sqlite:///{lineage_home() / 'lineage.db'}"


def artifacts_url() -> str:
    return os.environ.get("LINEAGE_ARTIFACTS_URL") or (lineage_home() / "artifacts").as_uri()
