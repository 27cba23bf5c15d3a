"""What an LLM call cost: token usage as the APIs report it, and a price table per model (overridable).

Usage comes in three spellings — Chat Completions (``prompt_tokens``/``completion_tokens``), Responses
(``input_tokens``/``output_tokens``) and embeddings (``prompt_tokens`` only) — and is recorded as one:
``{"input", "output", "total", "cached_input"}``. A price is USD per million tokens; a model is priced by its
exact name, else by the longest table entry it starts with (``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``).
An unknown model has no cost (None), never a guessed one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens: ``input``, ``output``, and ``cached_input`` (prompt tokens served from the
    provider's prompt cache; ``input`` when not given)."""

    input: float
    output: float = 0.0
    cached_input: float | None = None


# List prices (USD per 1M tokens) of common models when this table was written; pass ``prices=`` to the
# transport or the LangChain cache for yours (a provider's discount, a self-hosted model's cost).
DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-5": Price(1.25, 10.0, 0.125),
    "gpt-5-mini": Price(0.25, 2.0, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-4.1": Price(2.0, 8.0, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.0, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "o3": Price(2.0, 8.0, 0.50),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "text-embedding-3-small": Price(0.02),
    "text-embedding-3-large": Price(0.13),
    "text-embedding-ada-002": Price(0.10),
}


def price_for(model: str | None, table: Mapping[str, Price]) -> Price | None:
    """The model's price: its exact entry, else the longest entry it extends (``<entry>-…``)."""
    if not model:
        return None
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(f"{name}-")]
    return table[max(prefixes, key=len)] if prefixes else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def normalise_usage(usage: Any) -> dict[str, int] | None:
    """An API's ``usage`` object in one spelling, or None when the response has none."""
    if not isinstance(usage, Mapping):
        return None
    given = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
    produced = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    cached = _int(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    total = _int(usage.get("total_tokens")) or given + produced
    return {"input": given, "output": produced, "total": total, "cached_input": cached}


def cost(model: str | None, usage: Mapping[str, int] | None, table: Mapping[str, Price]) -> float | None:
    """USD for ``usage`` at the model's price, or None (no usage reported, or the model is not in the table)."""
    price = price_for(model, table)
    if price is None or usage is None:
        return None
    cached = min(usage.get("cached_input", 0), usage.get("input", 0))
    cached_rate = price.input if price.cached_input is None else price.cached_input
    usd = ((usage.get("input", 0) - cached) * price.input + cached * cached_rate
           + usage.get("output", 0) * price.output) / 1e6
    return round(usd, 10)
