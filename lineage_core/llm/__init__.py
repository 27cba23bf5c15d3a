"""LLM and tool calls deduplicated at the client, each recorded as a child run of its step (docs/llm.md).

- :class:`CachingTransport` / :class:`AsyncCachingTransport`: httpx transports for the official ``openai`` SDK
  (``openai.OpenAI(http_client=httpx.Client(transport=CachingTransport()))``);
- :class:`LineageLLMCache`: a LangChain cache (``set_llm_cache(LineageLLMCache())``);
- :func:`llm_cache` and :func:`sampling`: the caching policy for a block, and a fresh sampling scope;
- :class:`Price` and :data:`DEFAULT_PRICES`: the cost table (per model, overridable with ``prices=``).

Needs the ``llm`` extra (httpx; langchain-core for the LangChain cache). Names load on first use, so
``lineage_core`` itself never imports this package's dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .langchain import LineageLLMCache
    from .policy import LLMCachePolicy, llm_cache, sampling
    from .pricing import DEFAULT_PRICES, Price
    from .transport import AsyncCachingTransport, CachingTransport

__all__ = ["DEFAULT_PRICES", "AsyncCachingTransport", "CachingTransport", "LLMCachePolicy", "LineageLLMCache",
           "Price", "llm_cache", "sampling"]


def __getattr__(name: str) -> Any:
    if name in ("CachingTransport", "AsyncCachingTransport"):
        from . import transport

        return getattr(transport, name)
    if name == "LineageLLMCache":
        from .langchain import LineageLLMCache

        return LineageLLMCache
    if name in ("LLMCachePolicy", "llm_cache", "sampling"):
        from . import policy

        return getattr(policy, name)
    if name in ("Price", "DEFAULT_PRICES"):
        from . import pricing

        return getattr(pricing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
