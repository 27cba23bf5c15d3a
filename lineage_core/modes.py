"""How a step uses the cache (:class:`CacheMode`) and how a hit verifies its blob (:func:`parse_verify`), parsed
alike wherever they are given: a setting, a step's ``@cached(cache=..., verify=...)``, a call."""

from __future__ import annotations

from enum import Enum

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
        if value is None or value is True:  # unset, as on most hits
            return cls.READWRITE
        if value is False:
            return cls.OFF
        try:
            return cls((value or "readwrite").strip().lower())
        except ValueError:
            allowed = "|".join(m.value for m in cls)
            raise ConfigError(f"{source}={value!r} is not one of {allowed}") from None


VERIFY_MODES = ("stat", "always")


def parse_verify(value: str | None, source: str) -> str:
    """How a hit verifies its blob: ``stat`` (default) or ``always`` (a full hash on every hit)."""
    mode = (value or "stat").strip().lower()
    if mode not in VERIFY_MODES:
        raise ConfigError(f"{source}={value!r} is not one of {'|'.join(VERIFY_MODES)}")
    return mode


# Defined here, named where it was first defined: the value hasher tags an enum by module and qualname (a step whose
# arguments hold one keeps its cache key), and pickles made by either version load in the other.
CacheMode.__module__ = "lineage_core.settings"
