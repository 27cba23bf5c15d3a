"""The cache key: a versioned manifest of named components whose canonical JSON hashes to the key.

A component is data (:class:`KeyComponent`): its name, how a difference is explained, and — for the ones
every step has in the same way (image, hardware) — how it is computed from the step's context. Key
material, miss explanations and the ``lineage_cache`` facet's ``components`` all read :data:`COMPONENTS`,
so adding a component is one entry here plus, where the step kind knows its value, one keyword where the
manifest is built. :data:`KEY_SCHEMA` bumps whenever the list (or a component's meaning) changes; a
manifest of an older schema still explains itself ("key schema 1 → 2") and still diffs component by
component.

The manifest is stored with every entry, so a miss explains itself by diffing against the nearest previous
manifest of the same step — the question "why was this not cached?" that no peer answers.

Not key material (lookup policy instead): ``max_age``, refresh, cache mode, the orchestrator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any, NamedTuple

from .hashing.content import hash_bytes
from .records import record

if TYPE_CHECKING:
    from .environment import EnvironmentSnapshot

KEY_SCHEMA = 2
_META = ("schema", "display", "code_entry")  # stored beside the components, never components themselves


class KeyContext(NamedTuple):
    """What the computed components are computed from: the environment the step runs in and what it
    declared about it."""

    environment: EnvironmentSnapshot | None = None
    image: str | None = None  # the step's image reference (a command's), else the container's digest
    hardware: bool = False  # the step's result depends on the GPU model / CUDA (``hardware=True``)


Explainer = Callable[[Any, Any, "KeyManifest", "KeyManifest"], list[str]]


class KeyComponent(NamedTuple):
    name: str
    explain: Explainer  # (old value, new value, old manifest, new manifest) -> plain-language reasons
    compute: Callable[[KeyContext], Any] | None = None  # filled in for every step; None = given by the step


@record
class KeyManifest:
    """The components of one key (``None`` = absent) plus display-only text for explanations."""

    components: Mapping[str, Any]
    display: Mapping[str, str] = field(default_factory=dict)  # short renderings (secrets redacted), never hashed
    code_entry: str = ""  # which part of the ``code`` component is the step itself
    schema: int = KEY_SCHEMA
    # Components already in canonical JSON (name -> encoded value of exactly ``components[name]``): a cached step's
    # process-fixed components (code, env, outputs), so a call encodes only its own arguments. Never key material
    # of its own: ``key()`` is the same with or without it.
    encoded: Mapping[str, str] | None = field(default=None, compare=False, repr=False)

    def __init__(self, components: Mapping[str, Any], display: Mapping[str, str] | None = None,
                 code_entry: str = "", schema: int = KEY_SCHEMA, encoded: Mapping[str, str] | None = None) -> None:
        self.__dict__.update(components=components, display={} if display is None else display,  # frozen
                             code_entry=code_entry, schema=schema, encoded=encoded)

    @classmethod
    def build(cls, context: KeyContext | None = None, *, display: Mapping[str, str] | None = None,
              code_entry: str = "", **components: Any) -> KeyManifest:
        """A current-schema manifest: the step's own components (by name) plus the computed ones."""
        unknown = set(components) - _BY_NAME.keys()
        if unknown:
            raise ValueError(f"unknown key components {sorted(unknown)}: add them to lineage_core.keys.COMPONENTS")
        values = {**components, **computed_components(context or KeyContext())}
        shown = display if display is not None else {}
        return cls({k: v for k, v in values.items() if v is not None}, shown, code_entry)

    @property
    def scope(self) -> str:
        return str(self.components.get("scope", ""))

    @property
    def step(self) -> str:
        return str(self.components.get("step", ""))

    def get(self, name: str, default: Any = None) -> Any:
        value = self.components.get(name)
        return default if value is None else value

    def key_material(self) -> dict[str, Any]:
        return {"schema": self.schema, **self.components}

    def key(self) -> str:
        encoded = self.encoded
        material = self.key_material()
        if isinstance(encoded, KeyText):
            text = encoded.text(material)
            if text is not None:
                return hash_bytes(text.encode())
        if not encoded:
            return hash_bytes(canonical(material).encode())
        # The same text json.dumps(material, sort_keys=True, ...) gives: members in key order, each value encoded
        # with the same options (a nested value's encoding does not depend on where it stands).
        members = [f"{canonical(k)}:{encoded[k] if k in encoded else canonical(v)}"
                   for k, v in sorted(material.items())]
        return hash_bytes(("{" + ",".join(members) + "}").encode())

    def to_dict(self) -> dict[str, Any]:
        """The stored form: components at the top level (readers such as lineage views use ``inputs``)."""
        return {**self.components, "schema": self.schema, "display": dict(self.display), "code_entry": self.code_entry}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> KeyManifest:
        """Any stored manifest, of any schema: whatever is not metadata is a component (a component an older
        schema had and this one has not is kept, so it still explains)."""
        return cls({k: v for k, v in d.items() if k not in _META and v is not None}, dict(d.get("display") or {}),
                   str(d.get("code_entry") or ""), int(d.get("schema") or 1))

    def component_hashes(self) -> dict[str, str]:
        """Component -> hash of its value (the ``lineage_cache`` facet's ``components``)."""
        return {n: hash_bytes(json.dumps(v, sort_keys=True).encode()) for n, v in self.components.items()}


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode  # built once


def canonical(value: Any) -> str:
    """The canonical JSON of key material (sorted keys, no spaces, UTF-8 as is): ``json.dumps`` with those options,
    on one encoder (``dumps`` with options builds a new one per call)."""
    return _CANONICAL(value)


def _plain(text: str) -> bool:
    """Printable ASCII but ``"`` and ``\\``: what JSON writes as it is (string tests, no pattern to compile)."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def flat_json(d: Mapping[str, Any]) -> str:
    """``canonical(d)``; for a dict of plain ASCII strings to such strings (a call's params and inputs: names to
    hashes) written directly, without an encoder run."""
    items = sorted(d.items())
    try:
        plain = _plain("".join([k + v for k, v in items]))
    except TypeError:  # not all strings
        plain = False
    if not plain:
        return canonical(d)
    return "{" + ",".join(['"' + k + '":"' + v + '"' for k, v in items]) + "}"  # str's own +, as json writes them


class KeyText(dict[str, str]):
    """:attr:`KeyManifest.encoded` of a step whose key material is fixed for the process but for the components each
    call fills in (``slots``: its params and inputs, and its code when it has file deps): the fixed components in
    canonical JSON, and the key text around the slots, so a call's key is its slots spliced in and one hash. The
    text is exactly ``canonical(material)`` (tests compare the keys); a manifest of other component names (or
    another schema) than it was built for is keyed the general way."""

    def __init__(self, material: Mapping[str, Any], slots: Collection[str]) -> None:
        super().__init__({k: canonical(v) for k, v in material.items() if k not in slots and k != "schema"})
        self.names, self.schema = frozenset(material), material.get("schema")
        order = sorted(material)
        self.slots = tuple(k for k in order if k in slots)
        pieces: list[str] = []
        text = "{"
        for i, k in enumerate(order):
            text += ("," if i else "") + canonical(k) + ":"
            if k in slots:
                pieces.append(text)
                text = ""
            else:
                text += canonical(material[k])
        self.pieces = (*pieces, text + "}")

    def text(self, material: Mapping[str, Any]) -> str | None:
        """The canonical JSON of ``material`` (None: not the material this text was built for)."""
        if material.keys() != self.names or material.get("schema") != self.schema:
            return None
        out = [self.pieces[0]]
        for name, piece in zip(self.slots, self.pieces[1:], strict=True):
            out += (flat_json(material[name]), piece)
        return "".join(out)


def short(h: str | None) -> str:
    if not h:
        return "∅"
    algo, _, hexd = h.partition(":")
    return f"{algo}:{hexd[:8]}…"


def _dict_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    added = sorted(set(b) - set(a))
    removed = sorted(set(a) - set(b))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    return added, removed, changed


# -- explainers -----------------------------------------------------------------------------------------
def _scalar(label: str) -> Explainer:
    return lambda a, b, _o, _n: [f"{label} {a} → {b}"]


def _code(a: Any, b: Any, _old: KeyManifest, new: KeyManifest) -> list[str]:
    added, removed, changed = _dict_changes(a or {}, b or {})
    details = ["its own code" if p == new.code_entry else f"{_kind(p)} {p}" for p in changed]
    details += [f"{_kind(p)} {p} added" for p in added] + [f"{_kind(p)} {p} removed" for p in removed]
    step_name = (new.code_entry or new.step).split(" in ")[0]
    return [f"code changed: {step_name} ({', '.join(details)})"]


def _kind(part: str) -> str:
    return "dependency" if part.startswith(("file ", "global ", "module ")) else "helper"


def _named_values(noun: str, shown: Callable[[str], str] = lambda name: name) -> Explainer:
    """Explains a ``{name: hash}`` component: which names changed (with their display text), came or went."""
    def explain(a: Any, b: Any, old: KeyManifest, new: KeyManifest) -> list[str]:
        a, b = a or {}, b or {}
        added, removed, changed = _dict_changes(a, b)
        out = [f"{noun} {shown(p)!r} changed: {old.display.get(_display_key(noun, p), short(a[p]))} → "
               f"{new.display.get(_display_key(noun, p), short(b[p]))}" for p in changed]
        return out + [f"{noun} {shown(p)!r} added" for p in added] + [f"{noun} {shown(p)!r} removed" for p in removed]
    return explain


def _display_key(noun: str, name: str) -> str:
    return f"env {name}" if noun == "env var" else name


def _inputs(a: Any, b: Any, _old: KeyManifest, _new: KeyManifest) -> list[str]:
    a, b = a or {}, b or {}
    added, removed, changed = _dict_changes(a, b)
    out = [f"input {p!r} changed ({short(a[p])} → {short(b[p])})" for p in changed]
    return out + [f"input {p!r} added" for p in added] + [f"input {p!r} removed" for p in removed]


def _command(_a: Any, _b: Any, old: KeyManifest, new: KeyManifest) -> list[str]:
    return [f"command changed: {old.display.get('command', '?')} → {new.display.get('command', '?')}"]


def _outputs(a: Any, b: Any, _o: KeyManifest, _n: KeyManifest) -> list[str]:
    return [f"output materializers changed ({a} → {b})"]


def _env(a: Any, b: Any, _o: KeyManifest, _n: KeyManifest) -> list[str]:
    a, b = a or {}, b or {}
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


def _hardware(a: Any, b: Any, _o: KeyManifest, _n: KeyManifest) -> list[str]:
    a, b = a or {}, b or {}
    out = [f"{label} {a.get(k)} → {b.get(k)}" for k, label in (("gpu", "GPU"), ("cuda", "CUDA major"))
           if a.get(k) != b.get(k)]
    return out or ["hardware changed"]


def _llm(_a: Any, _b: Any, _o: KeyManifest, _n: KeyManifest) -> list[str]:
    return ["LLM request changed"]


# -- computed components --------------------------------------------------------------------------------
def _image_of(ctx: KeyContext) -> str | None:
    return ctx.image


def _hardware_of(ctx: KeyContext) -> dict[str, Any] | None:
    """GPU model and CUDA major for a step that declares it depends on them or runs where there is a GPU."""
    gpu = (ctx.environment.gpu if ctx.environment else None) or {}
    models = sorted(set(gpu.get("gpus") or []))
    if not ctx.hardware and not models:
        return None
    cuda = gpu.get("cuda") or gpu.get("torch_cuda")
    return {"gpu": ",".join(models) or None, "cuda": str(cuda).split(".")[0] if cuda else None}


COMPONENTS: tuple[KeyComponent, ...] = (
    KeyComponent("scope", _scalar("namespace")),
    KeyComponent("step", _scalar("step")),
    KeyComponent("code", _code),
    KeyComponent("params", _named_values("parameter")),
    KeyComponent("inputs", _inputs),
    KeyComponent("command", _command),
    KeyComponent("env_vars", _named_values("env var")),
    KeyComponent("resources", _scalar("resources")),
    KeyComponent("outputs", _outputs),
    KeyComponent("env", _env),
    KeyComponent("image", _scalar("image"), _image_of),
    KeyComponent("hardware", _hardware, _hardware_of),
    KeyComponent("llm", _llm),
    KeyComponent("salt", _scalar("version changed:")),
)
_BY_NAME = {c.name: c for c in COMPONENTS}
_COMPUTED = tuple(c for c in COMPONENTS if c.compute is not None)


def computed_components(context: KeyContext) -> dict[str, Any]:
    """The components every step has in the same way, computed from its context (absent ones left out). A step
    whose context is fixed for the process computes them once (lineage_core.function_key)."""
    values = {c.name: c.compute(context) for c in _COMPUTED if c.compute is not None}
    return {k: v for k, v in values.items() if v is not None}


def explain_difference(old: KeyManifest, new: KeyManifest) -> list[str]:
    """Plain-language reasons why ``new`` has another key than ``old`` (same step)."""
    reasons: list[str] = []
    schema_changed = old.schema != new.schema
    if schema_changed:
        reasons.append(f"key schema {old.schema} → {new.schema} (lineage-core upgrade: keys are made differently)")
    a, b = old.components, new.components
    for name in dict.fromkeys([*_BY_NAME, *a, *b]):
        if a.get(name) == b.get(name) or (schema_changed and (name not in a or name not in b)):
            continue  # across schemas a component that came or went is the schema change, already said
        component = _BY_NAME.get(name)
        if component is not None and name in a and name in b:
            reasons += component.explain(a[name], b[name], old, new)
        elif component is not None and name in _COLLECTIONS:
            reasons += component.explain(a.get(name), b.get(name), old, new)
        else:
            how = "added" if name not in a else "removed" if name not in b else "changed"
            reasons.append(f"key component {name!r} {how}")
    return reasons or ["same key as before (the previous entry was invalidated or never written)"]


_COLLECTIONS = frozenset({"code", "params", "inputs", "env_vars"})  # absent is empty: explain by member


def nearest(previous: list[dict[str, Any]], new: KeyManifest) -> KeyManifest | None:
    """The previous manifest differing from ``new`` in the fewest components (newest on a tie). Manifests of
    any schema take part: an upgrade explains itself instead of looking like a first run."""
    best: tuple[int, int, int] | None = None
    chosen = None
    mine = new.components
    for i, d in enumerate(previous):
        m = KeyManifest.from_dict(d)
        other = m.components
        score = sum(1 for k in set(mine) | set(other) if mine.get(k) != other.get(k))
        rank = (m.schema != new.schema, score, i)
        if best is None or rank < best:
            best, chosen = rank, m
    return chosen
