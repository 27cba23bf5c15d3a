"""How a call of a cached function becomes its key manifest, and the datasets it reads and writes.

Fixed for the process (:class:`StaticParts`, computed once per step): the code fingerprint, the
environment component under the step's ``env`` policy, the set of materializers that may store the result,
and the computed components' context (image, hardware). Per call: each argument is hashed by content —
data (paths, URIs, arrays, frames, upstream references) into ``inputs``, everything else into ``params`` —
and rendered for explanations (secrets redacted). The data arguments are also the run's input datasets
(:func:`input_datasets`: files and URLs by absolute name, every argument by the content hash it was keyed by,
so the store can name the earlier output it is), and the stored value its output (:func:`output_dataset`).
"""

from __future__ import annotations

import inspect
import os
import reprlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, NamedTuple

from .code import CodeFingerprint, code_part_name, fingerprint_code, hash_file_deps, with_file_deps
from .errors import ConfigError, LineageError
from .hashing.values import hash_value
from .installed import distributions_for_modules, installed_distributions, normalize_dist_name
from .keys import KEY_SCHEMA, KeyContext, KeyManifest, KeyText, computed_components
from .redact import REDACTED, looks_secret, redact_data, redact_text, redact_url
from .runtime import process_environment
from .store.materializers import BUILTIN, PICKLE
from .store.protocol import RunDataset

if TYPE_CHECKING:
    from .hashing.remote import Uri
    from .refs import ArtifactRef
    from .store import CacheEntry, CacheStore

_OWN_DIST = "lineage-core"
_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict = 40, 40, 6, 6


def step_name(fn: Callable[..., Any]) -> str:
    """``module.qualname``; a script run as ``__main__`` is named after its file, so the same step run as a
    script or imported is one job."""
    module = fn.__module__
    if module == "__main__":
        f = inspect.getsourcefile(fn)
        if f:
            module = os.path.splitext(os.path.basename(f))[0]
    return f"{module}.{fn.__qualname__}"


def display(name: str, value: Any) -> str:
    """A short rendering for explanations: secrets redacted by name (the parameter's, nested keys') and by
    value (what secrets look like), before and after the value is shortened."""
    if looks_secret(name):
        return REDACTED
    if isinstance(value, PurePath):
        return redact_text(os.fspath(value))
    if (uri := _uri(value)) is not None:
        return redact_url(uri.uri)
    try:
        return redact_text(_repr.repr(redact_data(value)))
    except Exception:  # noqa: BLE001 - a display is best effort; the hash is what counts
        return f"<{type(value).__name__}>"


class _Displays(Mapping[str, str]):
    """The argument displays of one call, rendered on first use: a hit never needs them (only a miss's
    explanation and the stored manifest do), so the hit path does not pay for rendering and redaction."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values
        self._shown: dict[str, str] | None = None

    def _all(self) -> dict[str, str]:
        if self._shown is None:
            self._shown = {k: display(k, v) for k, v in self._values.items()}
            self._values = {}
        return self._shown

    def __getitem__(self, key: str) -> str:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def is_instance(value: Any, expected: type) -> bool:
    """``isinstance`` with the numeric tower of PEP 484 (an ``int`` is an acceptable ``float``): whether a loaded or
    returned value is of a step's annotated return type."""
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is complex:
        return isinstance(value, int | float | complex) and not isinstance(value, bool)
    return isinstance(value, expected)


def _uri(value: Any) -> Uri | None:
    """``value`` if it is a :class:`~lineage_core.hashing.Uri`. One exists only once its module is imported, so
    the check never imports it (a fresh process's hit with no remote input does not pay for it)."""
    remote = sys.modules.get("lineage_core.hashing.remote")
    return value if remote is not None and isinstance(value, remote.Uri) else None


def artifact_ref(value: Any) -> ArtifactRef | None:
    """``value`` if it is an :class:`~lineage_core.refs.ArtifactRef`; never imports that module (see ``_uri``)."""
    refs = sys.modules.get("lineage_core.refs")
    return value if refs is not None and isinstance(value, refs.ArtifactRef) else None


def any_artifact_ref(args: Sequence[Any], kwargs: Mapping[str, Any]) -> bool:
    return any(artifact_ref(a) is not None for a in (*args, *kwargs.values()))


def entry_ref(store: CacheStore, entry: CacheEntry) -> ArtifactRef:
    """A cache entry's value by reference (what a step passed by reference returns)."""
    from .refs import ArtifactRef

    return ArtifactRef(store.artifacts.uri_for(entry.artifact_hash), entry.artifact_hash, entry.materializer,
                       entry.key, entry.run_id)


def is_data(value: Any) -> bool:
    if isinstance(value, PurePath) or _uri(value) is not None or artifact_ref(value) is not None:
        return True
    mod = type(value).__module__.partition(".")[0]
    return mod in ("numpy", "pandas") and type(value).__name__ in ("ndarray", "DataFrame", "Series")


class Binder:
    """A function's ``signature.bind`` + ``apply_defaults``, as the arguments dict (by name, defaults applied, in
    signature order). A plain signature (positional-or-keyword parameters only) is bound without building a
    BoundArguments (the hit path); any other signature, or a call bind would refuse, goes to bind itself."""

    def __init__(self, signature: inspect.Signature) -> None:
        params = signature.parameters
        self.signature = signature
        self._plain = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params.values())
        self._names, self._known = tuple(params), frozenset(params)
        self._defaults = {n: p.default for n, p in params.items() if p.default is not p.empty}

    def __call__(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        names = self._names
        if self._plain and len(args) <= len(names):
            got = dict(zip(names, args, strict=False))
            for k, v in kwargs.items():
                if k in got or k not in self._known:
                    break
                got[k] = v
            else:
                defaults = self._defaults
                try:
                    return {n: got[n] if n in got else defaults[n] for n in names}
                except KeyError:  # a required argument is missing: bind says so
                    pass
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments


_SCALARS = frozenset({int, str, bool, bytes, type(None)})
_MEMO_MAX, _SCALAR_MAX = 1024, 256  # calls remembered per step; the longest str/bytes argument remembered


class KeyMemo(dict[tuple[Any, ...], tuple[Any, ...]]):
    """A step's keyed calls (manifest, key, input datasets) by what decides them when every argument is a small
    immutable scalar: the scope and each argument's exact type and value (a float by its ``repr``: ``0.0 == -0.0``,
    but they key differently), positional or by name. Anything else (or a step whose key reads more than its
    arguments: file deps, an adapter's :meth:`key_arguments`) is keyed afresh on every call."""

    def __init__(self, enabled: bool) -> None:
        super().__init__()
        self.enabled = enabled

    def at(self, scope: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, ...] | None:
        if not self.enabled:
            return None
        at: list[Any] = [scope, len(args), *kwargs]
        for v in (*args, *kwargs.values()):
            t = type(v)
            if t is float:
                v = repr(v)
            elif t not in _SCALARS or ((t is str or t is bytes) and len(v) > _SCALAR_MAX):
                return None
            at += (t, v)
        return tuple(at)

    def put(self, at: tuple[Any, ...] | None, keyed: tuple[Any, ...]) -> Any:
        if at is not None:
            if len(self) >= _MEMO_MAX:
                self.clear()
            self[at] = keyed
        return keyed


class StaticParts(NamedTuple):
    """What a step's key has in common on every call in this process, computed on its first call."""

    code: CodeFingerprint
    env: dict[str, Any]
    outputs: str
    computed: dict[str, Any]  # keys.computed_components of the step's context (image, hardware)
    code_entry: str  # which code part is the step itself
    # The key text around each call's own components, per (scope, step, salt, file deps): built on first use.
    texts: dict[tuple[str, str, str | None, bool], KeyText]


def static_parts(fn: Callable[..., Any], code_deps: Sequence[Any], env_policy: str | Sequence[str],
                 allow_pickle: bool, hardware: bool, source_dir: str | None) -> StaticParts:
    fp = fingerprint_code(fn, code_deps)
    snap = process_environment(source_dir)
    image = snap.image_digest if env_policy == "full" else None
    outputs = ",".join([m.id for m in BUILTIN] + ([PICKLE.id] if allow_pickle else []))
    computed = computed_components(KeyContext(snap, image, hardware))
    entry = code_part_name(fn, sys.modules.get(fn.__module__))
    env = env_component(env_policy, fp, source_dir)
    return StaticParts(fp, env, outputs, computed, entry, {})


def env_component(policy: str | Sequence[str], fp: CodeFingerprint, source_dir: str | None) -> dict[str, Any]:
    """The ``env`` component: what of the interpreter and its packages the step's result depends on."""
    if policy == "none":
        return {"policy": "none"}
    snap = process_environment(source_dir)
    if policy == "full":
        return {
            "policy": "full", "python": snap.python, "implementation": snap.implementation,
            "platform": snap.platform, "machine": snap.machine, "packages_hash": snap.packages_hash,
            "packages": snap.packages,
        }
    installed = installed_distributions()
    if policy == "imports":
        names = distributions_for_modules(fp.external_modules)
    else:
        names = [normalize_dist_name(n) for n in policy]
        missing = [n for n in names if n not in installed]
        if missing:
            raise ConfigError(f"env={list(policy)}: {missing} not installed in this environment")
    pkgs = {n: installed.get(n, "?") for n in sorted(set(names)) if n != _OWN_DIST}
    label = "imports" if policy == "imports" else "explicit"
    return {"policy": label, "python": snap.python_minor, "packages": pkgs}


def _named(signature: inspect.Signature, arguments: dict[str, Any],
           exclude: frozenset[str]) -> Iterator[tuple[str, Any]]:
    """(name, value) of every argument the key sees: ``**kwargs`` flattened, excluded ones left out."""
    for arg, value in arguments.items():
        if arg in exclude:
            continue
        if signature.parameters[arg].kind is inspect.Parameter.VAR_KEYWORD:
            yield from value.items()
        else:
            yield arg, value


def call_manifest(fn: Callable[..., Any], static: StaticParts, *, scope: str, name: str,
                  signature: inspect.Signature, arguments: dict[str, Any], exclude: frozenset[str],
                  file_deps: Sequence[str], source_dir: str | None, salt: str | None,
                  store: CacheStore) -> KeyManifest:
    fp = static.code
    if file_deps:  # the code component changes with the files: encoded per call
        fp = with_file_deps(fp, hash_file_deps(file_deps, source_dir or os.getcwd(), store))
    params: dict[str, str] = {}
    inputs: dict[str, str] = {}
    shown: dict[str, Any] = {}
    for k, v in _named(signature, arguments, exclude):
        (inputs if is_data(v) else params)[k] = hash_value(v, k, store)
        shown[k] = v
    # KeyManifest.build's result, without re-validating names and recomputing the process-fixed components on
    # every call (this is the hit path); tests check the two agree.
    components = {"scope": scope, "step": name, "code": fp.parts, "params": params, "inputs": inputs,
                  "outputs": static.outputs, "env": static.env, **static.computed}
    if salt is not None:
        components["salt"] = salt
    at = (scope, name, salt, bool(file_deps))
    text = static.texts.get(at)
    if text is None:  # the fixed components encoded once (env="full" lists every package): 128 -> 14 us a key
        slots = ("code", "params", "inputs") if file_deps else ("params", "inputs")
        text = static.texts[at] = KeyText({"schema": KEY_SCHEMA, **components}, slots)
    return KeyManifest(components, _Displays(shown), static.code_entry, encoded=text)


def input_datasets(signature: inspect.Signature, arguments: dict[str, Any], exclude: frozenset[str],
                   inputs: Mapping[str, str]) -> tuple[RunDataset, ...]:
    """The datasets a call reads: one per data argument (``inputs``: name -> the hash it was keyed by), from
    the call's actual value. A file or URL is named by its absolute location; an ``ArtifactRef`` names its
    producing run and artifact; every argument carries its content hash, which the store matches against the
    outputs earlier runs recorded (how a DataFrame handed on in memory links to the step that returned it)."""
    if not inputs:
        return ()
    values = dict(_named(signature, arguments, exclude))
    return tuple(_input(values[k], h) for k, h in inputs.items() if k in values)


def _input(value: Any, digest: str) -> RunDataset:
    if (ref := artifact_ref(value)) is not None:
        return RunDataset(ref.uri, ref.hash, digest, source_run=ref.run_id)
    if isinstance(value, PurePath):
        return RunDataset(os.path.abspath(os.fspath(value)), digest, digest)
    if (uri := _uri(value)) is not None:
        where = redact_url(uri.uri) if "://" in uri.uri else os.path.abspath(uri.uri)
        return RunDataset(where, digest, digest)
    return RunDataset(None, None, digest)  # in memory: a dataset only as some earlier run's output


def output_dataset(store: CacheStore, artifact_hash: str, materializer: str, meta: dict[str, Any],
                   value: Any = None, *, content: bool = False) -> RunDataset:
    """The dataset a run wrote: the stored blob, versioned by its hash, with a table's columns. ``content``:
    also the hash ``value`` has as a downstream step's data argument (what that step's input is matched by);
    only for data (frames, arrays, paths), which are what steps key as inputs."""
    fields = None
    if materializer.startswith("pandas"):
        fields = tuple(zip(map(str, meta.get("columns", [])), map(str, meta.get("dtypes", [])), strict=False)) or None
    digest = None
    if content and is_data(value):
        try:
            digest = hash_value(value, "result", store)
        except (LineageError, OSError, TypeError, ValueError):  # no argument could carry it: a dataset, unlinked
            digest = None
    return RunDataset(store.artifacts.uri_for(artifact_hash), artifact_hash, digest, fields)
