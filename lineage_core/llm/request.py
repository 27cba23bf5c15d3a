"""An LLM API call as its cache key sees it: the endpoint and every body field that can change the answer.

The key is the canonical request, field by field: method and endpoint path, then each JSON body field
(model, messages or input, tools, tool_choice, temperature, top_p, seed, response_format, max tokens, stop,
n, logit_bias, and any field we do not know: an unknown field is assumed to change the answer, since serving
a wrong value is worse than a miss). JSON numbers are compared as numbers (``0`` and ``0.0`` are one
temperature), everything else by type and value (``lineage_core.hashing``). Never key material: the
headers (API key, organisation, project, retry and idempotency headers, the SDK's ``x-stainless-*``), the
timeouts, and the body fields that identify the caller or steer the provider's bookkeeping rather than the
answer (:data:`NOT_OUTPUT`).

Only the endpoints that compute an answer from the request alone are cached (:data:`ENDPOINTS`); everything
else — uploads, batches, fine-tuning, a Responses call that continues a server-side ``conversation`` or
runs in the ``background`` — passes through untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Path suffix -> endpoint kind (the child run's job is ``llm.<kind>``); the longest suffix wins.
ENDPOINTS = {
    "chat/completions": "chat.completions",
    "completions": "completions",
    "responses": "responses",
    "embeddings": "embeddings",
    "moderations": "moderations",
}
# Body fields that never change the answer: who asks (user ids), the provider's own storage, metadata and
# prompt-cache routing, the service tier. They are neither key material nor stored.
NOT_OUTPUT = frozenset({
    "user", "safety_identifier", "metadata", "store", "prompt_cache_key", "prompt_cache_retention", "service_tier",
})
# Responses API fields that make the answer depend on server-side state that changes between calls.
_STATEFUL = ("conversation", "background")
_SAMPLING = frozenset({"chat.completions", "completions", "responses"})  # these draw samples (temperature 1 default)


def canonical(value: Any) -> Any:
    """A JSON value with integral floats as ints (``0.0`` is the temperature ``0``), recursively."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class LLMRequest:
    """One cacheable LLM call: ``kind`` (``chat.completions``…), ``endpoint`` (``POST /v1/chat/completions``)
    and the parsed JSON body. ``passthrough`` says why a call of a cacheable endpoint still cannot be
    cached (it continues server-side state); None when it can."""

    kind: str
    endpoint: str
    body: Mapping[str, Any]
    query: tuple[tuple[str, str], ...] = ()
    passthrough: str | None = None

    @property
    def model(self) -> str | None:
        model = self.body.get("model")
        return model if isinstance(model, str) else None

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    def nondeterministic(self) -> str | None:
        """Why the answer is a sample (temperature above 0, or unset: the API's default is 1, without a
        ``seed``), or None when the request is reproducible."""
        if self.kind not in _SAMPLING or self.body.get("seed") is not None:
            return None
        temperature = self.body.get("temperature")
        if temperature is None:
            return "temperature unset (the API samples at 1) without a seed"
        if isinstance(temperature, int | float) and temperature > 0:
            return f"temperature {temperature:g} without a seed"
        return None

    def fields(self) -> dict[str, Any]:
        """The key's fields, canonical: ``endpoint``, ``query`` (when any) and every output-affecting body field
        (a field sent as ``null`` is the field left out: the API's default either way)."""
        out: dict[str, Any] = {"endpoint": self.endpoint}
        if self.query:
            out["query"] = [list(pair) for pair in self.query]
        for name, value in self.body.items():
            if name not in NOT_OUTPUT and name not in out and value is not None:  # null is the API's default
                out[name] = canonical(value)
        return out


def endpoint_kind(path: str) -> str | None:
    """The endpoint kind a URL path ends in (``/v1/chat/completions`` -> ``chat.completions``), or None."""
    trimmed = path.rstrip("/")
    for suffix in sorted(ENDPOINTS, key=len, reverse=True):
        if trimmed == f"/{suffix}" or trimmed.endswith(f"/{suffix}"):
            return ENDPOINTS[suffix]
    return None


def parse_request(method: str, path: str, query: Iterator[tuple[str, str]] | list[tuple[str, str]],
                  content_type: str, content: bytes) -> LLMRequest | None:
    """The cacheable LLM call an HTTP request is, or None (another endpoint, not a JSON POST: pass it through)."""
    kind = endpoint_kind(path)
    if kind is None or method.upper() != "POST" or "json" not in content_type.lower():
        return None
    try:
        body = json.loads(content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    from ..redact import looks_secret

    pairs = tuple(sorted((k, v) for k, v in query if not looks_secret(k)))  # an api-key in the URL is no key
    stateful = next((f for f in _STATEFUL if body.get(f)), None)
    why = f"{stateful!r} continues server-side state: every call is sent" if stateful else None
    return LLMRequest(kind, f"POST {path}", body, pairs, why)
