"""Non-determinism as a policy: which LLM calls are cached, and which stored sample a sampled call gets.

A request is reproducible when its temperature is 0 or it carries a ``seed`` (embeddings and moderations
always are); otherwise every call draws a new sample, and replaying the first one would be a different
experiment than the one the code describes. So the policy (``llm_cache``) decides:

- ``"deterministic"`` (the default): reproducible requests are cached; sampled ones pass through uncached,
  each still recorded as a child run that says why;
- ``"sample"``: sampled requests are cached too, **per sample index** — the k-th identical call within a
  sampling scope gets the k-th stored sample, so an evaluation that draws 5 samples replays 5 different
  answers, and a sixth call draws (and stores) a new one;
- ``"off"``: nothing is looked up or stored; calls are still recorded.

Set it on the transport or the LangChain cache (``llm_cache="sample"``), on a step (``@cached(llm_cache="sample")``:
the step's body runs under it, see :func:`step_scope`), or for a block with :func:`llm_cache`; the most specific
setting wins (a block inside the body over the step, the step over the client). A sampling scope is the block of
:func:`sampling`, else the current step's run, else the client (the transport or cache object).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from enum import Enum

from ..errors import ConfigError


class LLMCachePolicy(str, Enum):
    DETERMINISTIC = "deterministic"
    SAMPLE = "sample"
    OFF = "off"

    @classmethod
    def parse(cls, value: str | LLMCachePolicy | None, source: str = "llm_cache") -> LLMCachePolicy:
        if isinstance(value, LLMCachePolicy):
            return value
        try:
            return cls((value or "deterministic").strip().lower())
        except ValueError:
            raise ConfigError(f"{source}={value!r} is not one of {'|'.join(m.value for m in cls)}") from None


_POLICY: ContextVar[LLMCachePolicy | None] = ContextVar("lineage_llm_cache", default=None)
_SCOPE: ContextVar[object | None] = ContextVar("lineage_llm_sampling", default=None)


@contextlib.contextmanager
def llm_cache(policy: str | LLMCachePolicy) -> Iterator[LLMCachePolicy]:
    """The LLM cache policy for this block (a step's body, say): ``"deterministic"``, ``"sample"`` or ``"off"``.
    Wins over the client's own ``llm_cache=``; blocks nest, the innermost wins."""
    token = _POLICY.set(LLMCachePolicy.parse(policy))
    try:
        yield _POLICY.get()  # type: ignore[misc]
    finally:
        _POLICY.reset(token)


def step_scope(value: object) -> Callable[[], contextlib.AbstractContextManager[LLMCachePolicy]]:
    """``@cached(llm_cache=value)``: checked when the step is decorated (a :class:`ConfigError` names the bad value),
    it returns what a computing call's body runs under — :func:`llm_cache` of the policy. A hit runs no body, so it
    never enters it (nor imports this package)."""
    if not isinstance(value, str | LLMCachePolicy):
        raise ConfigError(f"@cached: llm_cache={value!r} is not one of {'|'.join(m.value for m in LLMCachePolicy)}")
    return functools.partial(llm_cache, LLMCachePolicy.parse(value, "@cached: llm_cache"))


def effective_policy(client_default: LLMCachePolicy) -> LLMCachePolicy:
    return _POLICY.get() or client_default


@contextlib.contextmanager
def sampling() -> Iterator[None]:
    """A fresh sampling scope: the k-th identical sampled call in it gets the k-th stored sample, from 0. A
    step's run is one already; open one where there is no step (a notebook cell, a script's loop)."""
    token = _SCOPE.set(object())
    try:
        yield
    finally:
        _SCOPE.reset(token)


def explicit_scope() -> object | None:
    return _SCOPE.get()


class SampleCounter:
    """Hands out sample indexes: per (scope, request) the next unused one, atomically (concurrent identical
    calls in one scope get distinct samples). Bounded: the least recently used scopes are forgotten."""

    def __init__(self, limit: int = 100_000) -> None:
        self._next: OrderedDict[tuple[object, str], int] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def claim(self, scope: object, request_key: str) -> int:
        with self._lock:
            k = (scope, request_key)
            index = self._next.pop(k, 0)
            self._next[k] = index + 1
            if len(self._next) > self._limit:
                self._next.popitem(last=False)
            return index
