"""Why an LLM call missed, field by field: "temperature 0 → 0.7", "messages changed: [...] → [...]".

The ``llm`` key component is ``{field: hash}`` with each field's short, redacted rendering stored in the
manifest's display as ``llm.<field>``. ``keys.py``'s explainer for the component says only "LLM request
changed"; until it explains by field (docs/llm.md names the change), this module replaces that sentence,
comparing against the previous call of the endpoint that differs in the fewest fields — the same prompt at
another temperature, not merely the newest call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..keys import KeyManifest, short

GENERIC = "LLM request changed"  # what lineage_core.keys says of the component today
_SCALARS = ("temperature", "top_p", "seed", "n", "max_tokens", "max_completion_tokens", "max_output_tokens",
            "sample", "model", "endpoint", "stream", "presence_penalty", "frequency_penalty", "reasoning_effort")


def _fields(m: KeyManifest) -> Mapping[str, str]:
    value = m.components.get("llm")
    return value if isinstance(value, Mapping) else {}


def _nearest(previous: list[dict[str, Any]], new: KeyManifest) -> KeyManifest | None:
    """The previous manifest (same scope and salt) whose request differs from ``new``'s in the fewest fields."""
    mine = _fields(new)
    best, chosen = None, None
    for i, d in enumerate(previous):
        m = KeyManifest.from_dict(d)
        if any(m.components.get(c) != new.components.get(c) for c in ("scope", "step", "salt")):
            continue
        theirs = _fields(m)
        score = sum(1 for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if score and (best is None or (score, i) < best):
            best, chosen = (score, i), m
    return chosen


def difference(old: KeyManifest, new: KeyManifest) -> list[str]:
    """How ``new``'s request differs from ``old``'s: each changed, added or removed field with its values."""
    a, b = _fields(old), _fields(new)

    def shown(m: KeyManifest, name: str, digest: str) -> str:
        return m.display.get(f"llm.{name}") or short(digest)

    out = []
    for name in sorted(set(a) | set(b), key=lambda n: (n not in _SCALARS, n)):
        if name not in a:
            out.append(f"{name} {shown(new, name, b[name])} added")
        elif name not in b:
            out.append(f"{name} removed (was {shown(old, name, a[name])})")
        elif a[name] != b[name]:
            before, after = shown(old, name, a[name]), shown(new, name, b[name])
            out.append(f"{name} {before} → {after}" if name in _SCALARS else f"{name} changed: {before} → {after}")
    return out


def field_reasons(previous: list[dict[str, Any]], new: KeyManifest) -> list[str]:
    """The field-level reasons ``new`` missed against the nearest previous request (GENERIC when none is)."""
    old = _nearest(previous, new)
    return difference(old, new) if old is not None else [GENERIC]
