"""The cache key: a versioned, typed manifest whose canonical JSON hashes to the key.

Components: schema version, scope (namespace), step identity, code, parameters, inputs, output
materializers, environment, user version salt. The manifest is stored with every entry, so a miss
explains itself by diffing against the nearest previous manifest of the same step — the question
"why was this not cached?" that no peer answers.

Not key material (lookup policy instead): ``max_age``, refresh, cache mode, the orchestrator.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .hashing.content import hash_bytes

KEY_SCHEMA = 1


@dataclass
class KeyManifest:
    scope: str
    step: str
    code: dict[str, str]  # part name -> hash ("<step>() in mod.py", "helper() in prep.py", "file x")
    params: dict[str, str]  # parameter -> value hash
    inputs: dict[str, str]  # data inputs (paths, arrays, frames) -> content hash
    outputs: str  # the materializer set that may store the result
    env: dict[str, Any]  # {"policy": ..., "python": "3.11", "packages": {dist: version}}
    salt: str | None = None
    schema: int = KEY_SCHEMA
    # Shown in explanations, never hashed: short renderings of parameter values (secrets redacted).
    display: dict[str, str] = field(default_factory=dict)
    code_entry: str = ""  # which part of ``code`` is the step itself

    def key_material(self) -> dict[str, Any]:
        """Every component except the display-only fields (shallow: the key is serialised at once)."""
        return {
            "schema": self.schema, "scope": self.scope, "step": self.step, "code": self.code,
            "params": self.params, "inputs": self.inputs, "outputs": self.outputs, "env": self.env,
            "salt": self.salt,
        }

    def key(self) -> str:
        data = json.dumps(self.key_material(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hash_bytes(data.encode())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KeyManifest:
        return cls(**d)


def short(h: str | None) -> str:
    if not h:
        return "∅"
    algo, _, hexd = h.partition(":")
    return f"{algo}:{hexd[:8]}…"


def _dict_changes(
    a: dict[str, Any], b: dict[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    added = sorted(set(b) - set(a))
    removed = sorted(set(a) - set(b))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    return added, removed, changed


def explain_difference(old: KeyManifest, new: KeyManifest) -> list[str]:
    """Plain-language reasons why ``new`` has another key than ``old`` (same step)."""
    reasons: list[str] = []
    if old.schema != new.schema:
        reasons.append(f"key schema {old.schema} → {new.schema} (lineage-core upgrade)")
    if old.scope != new.scope:
        reasons.append(f"namespace {old.scope} → {new.scope}")
    reasons += _code_reasons(old, new)
    added, removed, changed = _dict_changes(old.params, new.params)
    for p in changed:
        reasons.append(f"parameter {p!r} changed: {old.display.get(p, short(old.params[p]))} → "
                       f"{new.display.get(p, short(new.params[p]))}")
    reasons += [f"parameter {p!r} added" for p in added] + [f"parameter {p!r} removed" for p in removed]
    added, removed, changed = _dict_changes(old.inputs, new.inputs)
    for p in changed:
        reasons.append(f"input {p!r} changed ({short(old.inputs[p])} → {short(new.inputs[p])})")
    reasons += [f"input {p!r} added" for p in added] + [f"input {p!r} removed" for p in removed]
    if old.outputs != new.outputs:
        reasons.append(f"output materializers changed ({old.outputs} → {new.outputs})")
    reasons += _env_reasons(old.env, new.env)
    if old.salt != new.salt:
        reasons.append(f"version changed: {old.salt} → {new.salt}")
    return reasons or ["same key as before (the previous entry was invalidated or never written)"]


def _code_reasons(old: KeyManifest, new: KeyManifest) -> list[str]:
    if old.code == new.code:
        return []
    added, removed, changed = _dict_changes(old.code, new.code)
    step = new.code_entry or new.step
    details = []
    for part in changed:
        details.append("its own code" if part == new.code_entry else f"{_kind(part)} {part}")
    details += [f"{_kind(p)} {p} added" for p in added] + [f"{_kind(p)} {p} removed" for p in removed]
    step_name = step.split(" in ")[0]
    return [f"code changed: {step_name} ({', '.join(details)})"]


def _kind(part: str) -> str:
    if part.startswith(("file ", "global ", "module ")):
        return "dependency"
    return "helper"


def _env_reasons(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    if a == b:
        return []
    out = []
    if a.get("policy") != b.get("policy"):
        out.append(f"environment policy {a.get('policy')} → {b.get('policy')}")
    for k in ("python", "implementation", "platform", "machine", "packages_hash", "image"):
        if a.get(k) != b.get(k) and (k != "packages_hash" or a.get("packages") == b.get("packages")):
            out.append(f"{k} {a.get(k)} → {b.get(k)}")
    pa, pb = a.get("packages", {}), b.get("packages", {})
    added, removed, changed = _dict_changes(pa, pb)
    out += [f"package {n} {pa[n]} → {pb[n]}" for n in changed]
    out += [f"package {n} {pb[n]} added" for n in added] + [f"package {n} {pa[n]} removed" for n in removed]
    return out or ["environment changed"]


def nearest(previous: list[dict[str, Any]], new: KeyManifest) -> KeyManifest | None:
    """The previous manifest differing from ``new`` in the fewest components (newest on a tie)."""
    best: tuple[int, int] | None = None
    chosen = None
    mat = new.key_material()
    for i, d in enumerate(previous):
        try:
            m = KeyManifest.from_dict(d)
        except TypeError:
            continue
        other = m.key_material()
        score = sum(1 for k in mat if mat[k] != other.get(k))
        if best is None or (score, i) < best:
            best, chosen = (score, i), m
    return chosen
