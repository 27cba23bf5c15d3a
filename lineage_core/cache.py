"""``@cached``: content-addressed caching of a Python function, with a run record per call.

Call path: bind arguments -> key manifest (code fingerprint and environment computed once per
process; parameters and data inputs hashed per call, files through the stat cache) -> lookup -> on a
hit, load and verify the stored artifact and record a CACHED run pointing at the producing run; on a
miss, explain why in one INFO line, run the function, store the result atomically and record it.
Anything uncertain is a miss: a missing or corrupt artifact is tombstoned, logged once as a WARNING
and recomputed — never an exception, never a wrong value.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import reprlib
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from . import settings
from .code import CodeFingerprint, code_part_name, fingerprint_code, hash_file_deps, with_file_deps
from .context import current_run_context
from .environment import (
    distributions_for_modules,
    installed_distributions,
    normalize_dist_name,
)
from .errors import ArtifactError, ConfigError, MaterializerError
from .hashing.remote import Uri
from .hashing.values import hash_value, ndarray_hash, remember_array_hash
from .ids import new_run_id
from .keys import KeyManifest, explain_difference, nearest, short
from .openlineage.emitter import emit_run
from .redact import REDACTED, looks_secret, redact_url
from .refs import ArtifactRef, resolve
from .runtime import default_store, process_environment
from .settings import CacheMode
from .singleflight import MISS, Lease, lead_or_wait
from .store.materializers import BUILTIN, PICKLE, LoadContext, SaveContext, materializer_by_id, materializer_for

if TYPE_CHECKING:
    from .store import CacheStore

log = logging.getLogger("lineage_core")
P = ParamSpec("P")
R = TypeVar("R")
_OWN_DIST = "lineage-core"
_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict = 40, 40, 6, 6


@dataclass
class Outcome:
    """What happened on the last call of a cached function (see :func:`explain`)."""

    hit: bool
    run_id: str
    key: str
    reasons: list[str] = field(default_factory=list)
    source_run_id: str | None = None
    job: str = ""


def _module_name(fn: Callable[..., Any]) -> str:
    """The step's module; a script run as ``__main__`` is named after its file, so the same step
    run as a script or imported is one job."""
    if fn.__module__ == "__main__":
        f = inspect.getsourcefile(fn)
        if f:
            return os.path.splitext(os.path.basename(f))[0]
    return fn.__module__


def _display(name: str, value: Any) -> str:
    if looks_secret(name):
        return REDACTED
    if isinstance(value, PurePath):
        return os.fspath(value)
    if isinstance(value, Uri):
        return redact_url(value.uri)
    try:
        return _repr.repr(value)
    except Exception:  # noqa: BLE001 - a display is best effort; the hash is what counts
        return f"<{type(value).__name__}>"


def _is_data(value: Any) -> bool:
    if isinstance(value, PurePath | Uri | ArtifactRef):
        return True
    mod = type(value).__module__.partition(".")[0]
    return mod in ("numpy", "pandas") and type(value).__name__ in ("ndarray", "DataFrame", "Series")


class CachedFunction(Generic[P, R]):
    """The callable ``@cached`` returns; call it like the function it wraps."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        namespace: str | None = None,
        env: str | Sequence[str] = "imports",
        version: str | int | None = None,
        max_age: float | None = None,
        cache: str | CacheMode | bool | None = None,
        code_deps: Iterable[Any] = (),
        file_deps: Iterable[str] = (),
        exclude: Iterable[str] = (),
        pickle: bool = False,
        single_flight: bool = True,
        wait_timeout: float | None = None,
    ) -> None:
        if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise ConfigError(
                f"@cached cannot wrap {fn.__qualname__}: it returns a coroutine or generator, not a value; "
                "cache a plain function that returns the result"
            )
        if isinstance(env, str) and env not in ("imports", "full", "none"):
            raise ConfigError(f"env={env!r}: use 'imports', 'full', 'none' or a list of distribution names")
        if max_age is not None and max_age <= 0:
            raise ConfigError(f"max_age={max_age!r} must be a positive number of seconds")
        self.fn = fn
        self.name = name or f"{_module_name(fn)}.{fn.__qualname__}"
        self.namespace = namespace
        self.env_policy = env
        self.version = None if version is None else str(version)
        self.max_age = max_age
        self.mode = None if cache is None else CacheMode.parse(cache, "cache")
        self.code_deps = list(code_deps)
        self.file_deps = list(file_deps)
        self.exclude = frozenset(exclude)
        self.allow_pickle = pickle
        self.single_flight = single_flight
        self.wait_timeout = wait_timeout
        self.signature = inspect.signature(fn)
        self._refresh_kw = "refresh" not in self.signature.parameters
        source = inspect.getsourcefile(fn)
        self._source_dir = os.path.dirname(os.path.abspath(source)) if source else None
        self._static: tuple[CodeFingerprint, dict[str, Any], str] | None = None
        self.last: Outcome | None = None
        unknown = self.exclude - set(self.signature.parameters)
        if unknown:
            raise ConfigError(f"exclude={sorted(unknown)} names no parameter of {self.name}")
        functools.update_wrapper(self, fn)

    # -- key ------------------------------------------------------------------------------------
    def _static_parts(self) -> tuple[CodeFingerprint, dict[str, Any], str]:
        """Code fingerprint, env component and materializer set: fixed for the process."""
        if self._static is None:
            fp = fingerprint_code(self.fn, self.code_deps)
            self._static = (fp, self._env_component(fp), self._outputs_id())
        return self._static

    def _env_component(self, fp: CodeFingerprint) -> dict[str, Any]:
        policy = self.env_policy
        if policy == "none":
            return {"policy": "none"}
        snap = process_environment(self._source_dir)
        if policy == "full":
            return {
                "policy": "full", "python": snap.python, "implementation": snap.implementation,
                "platform": snap.platform, "machine": snap.machine, "packages_hash": snap.packages_hash,
                "packages": snap.packages, "image": snap.image_digest,
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

    def _outputs_id(self) -> str:
        ids = [m.id for m in BUILTIN] + ([PICKLE.id] if self.allow_pickle else [])
        return ",".join(ids)

    def manifest(self, *args: Any, **kwargs: Any) -> KeyManifest:
        """The key manifest this call would have (without running or looking anything up)."""
        store = default_store()
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return self._manifest(bound.arguments, store)

    def _manifest(self, arguments: dict[str, Any], store: CacheStore) -> KeyManifest:
        fp, env, outputs = self._static_parts()
        if self.file_deps:
            fp = with_file_deps(fp, hash_file_deps(self.file_deps, self._source_dir or os.getcwd(), store))
        params: dict[str, str] = {}
        inputs: dict[str, str] = {}
        display: dict[str, str] = {}
        for name, value in arguments.items():
            if name in self.exclude:
                continue
            kind = self.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                for k, v in value.items():
                    (inputs if _is_data(v) else params)[k] = hash_value(v, k, store)
                    display[k] = _display(k, v)
                continue
            digest = hash_value(value, name, store)
            (inputs if _is_data(value) else params)[name] = digest
            display[name] = _display(name, value)
        entry = code_part_name(self.fn, sys.modules.get(self.fn.__module__))
        return KeyManifest(
            scope=settings.namespace(self.namespace),
            step=self.name, code=fp.parts, params=params, inputs=inputs, outputs=outputs, env=env,
            salt=self.version, display=display, code_entry=entry,
        )

    # -- call -----------------------------------------------------------------------------------
    def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Recompute and overwrite the cached value for these arguments."""
        return self._call(args, kwargs, refresh=True)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if settings.disabled():
            return self.fn(*args, **kwargs)
        refresh = bool(kwargs.pop("refresh", False)) if self._refresh_kw else False
        return self._call(args, kwargs, refresh)

    def ref(self, *args: Any, **kwargs: Any) -> ArtifactRef:
        """Call (hit or miss) and return the stored result by reference: what orchestrators pass between
        steps. A hit verifies the stored bytes but does not deserialise them."""
        refresh = bool(kwargs.pop("refresh", False)) if self._refresh_kw else False
        if (self.mode or settings.global_cache_mode()) is not CacheMode.READWRITE or settings.disabled():
            raise ConfigError(f"{self.name}: results pass by reference only with cache='readwrite'")
        return self._call(args, kwargs, refresh, as_ref=True)  # type: ignore[return-value]

    def _call(self, args: Any, kwargs: Any, refresh: bool, as_ref: bool = False) -> R:
        mode = self.mode or settings.global_cache_mode()
        store = default_store()
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        manifest = self._manifest(bound.arguments, store)
        key = manifest.key()
        namespace = manifest.scope
        job_id = store.job_id(namespace, self.name)
        reasons: list[str] = []
        if mode is CacheMode.OFF:
            reasons.append("caching is off (cache='off' or LINEAGE_CACHE=off)")
        elif refresh:
            reasons.append("refresh requested")
        elif not mode.reads:
            reasons.append(f"cache reads are disabled (mode {mode.value})")
        else:
            hit = self._try_hit(store, key, job_id, reasons, as_ref=as_ref)
            if hit is not MISS:
                return hit  # type: ignore[no-any-return]
        value = self._miss(store, manifest, key, job_id, mode, reasons, args, kwargs, refresh, as_ref)
        if as_ref and not isinstance(value, ArtifactRef):
            entry = store.lookup(key)
            assert entry is not None  # readwrite: the miss stored it
            value = _ref(store, entry)
        return value  # type: ignore[no-any-return]

    def _try_hit(self, store: CacheStore, key: str, job_id: int, reasons: list[str], concurrent: bool = False,
                 as_ref: bool = False) -> Any:
        """The stored value with a CACHED run recorded, or MISS (with the reason appended)."""
        entry = store.lookup(key)
        if entry is None:
            return MISS
        started = time.time()
        if self.max_age is not None and started - entry.created_at > self.max_age:
            age = started - entry.created_at
            reasons.append(f"cached value is {age:.0f}s old, older than max_age={self.max_age:g}s")
            return MISS
        try:
            if as_ref:
                store.artifacts.read_verified(entry.artifact_hash, store)
                value = _ref(store, entry)
            else:
                value = self._load(store, entry.artifact_hash, entry.materializer, entry.meta, entry.value_hash)
        except (ArtifactError, MaterializerError) as e:
            store.tombstone(key)
            log.warning("cache entry %s for %s discarded, recomputing: %s", short(key), self.name, e)
            reasons.append(f"stored artifact failed verification ({e})")
            return MISS
        run_id = new_run_id()
        note = f"cache hit: key {short(key)} from run {entry.run_id}"
        if concurrent:
            note += " (computed concurrently: this call waited for it)"
        store.insert_run(
            id=run_id, job_id=job_id, status="CACHED", cache_key=key, source_run_id=entry.run_id,
            environment_hash=store.put_environment(process_environment(self._source_dir)), started_at=started,
            ended_at=time.time(), reasons=[note], context=current_run_context(),
        )
        emit_run(store, run_id, "all")
        self.last = Outcome(True, run_id, key, [note], entry.run_id, self.name)
        if log.isEnabledFor(logging.INFO):
            log.info("%s (%s)", note, self.name)
        return value

    def _load(self, store: CacheStore, digest: str, mid: str, meta: dict[str, Any], value_hash: str | None) -> Any:
        m = materializer_by_id(mid)
        data = store.artifacts.read_verified(digest, store)
        value = m.load(data, meta or {}, LoadContext(store.home / "materialized", store.artifacts))
        if value_hash is not None and mid.startswith("numpy@"):
            remember_array_hash(value, value_hash, trusted=True)
        return value

    def _miss(
        self, store: CacheStore, manifest: KeyManifest, key: str, job_id: int, mode: CacheMode,
        reasons: list[str], args: Any, kwargs: Any, refresh: bool = False, as_ref: bool = False,
    ) -> Any:
        run_id = new_run_id()
        lease: Lease | None = None
        if mode.writes and mode.reads and not refresh and self.single_flight:
            led = lead_or_wait(
                store, key, run_id, lambda: self._try_hit(store, key, job_id, [], concurrent=True, as_ref=as_ref),
                self.name,
                timeout=self.wait_timeout,
            )
            if isinstance(led, tuple):
                return led[0]  # another worker computed it while we waited: nothing to explain
            lease = led
        # Explain the miss (only the worker that computes does: waiters never need it).
        if not reasons or reasons == ["refresh requested"] or reasons[0].startswith(("cached value", "stored")):
            prev = nearest(store.previous_manifests(job_id), manifest)
            if prev is None:
                reasons.append(f"first run of {self.name} (no previous key in namespace {manifest.scope})")
            elif prev.key() != key:
                reasons.extend(explain_difference(prev, manifest))
            elif not reasons:
                reasons.append("same key as a previous run, but its entry was invalidated or never stored")
        if lease is not None and lease.took_over:
            store.abandon_run(lease.took_over, "its lease expired: the process computing it stopped")
            reasons.append(f"took over from run {lease.took_over}, whose worker stopped")
        log.info("cache miss: %s key %s: %s", self.name, short(key), "; ".join(reasons))
        env_hash = store.put_environment(process_environment(self._source_dir))
        store.insert_run(
            id=run_id, job_id=job_id, status="RUNNING", cache_key=key, environment_hash=env_hash,
            started_at=time.time(), reasons=reasons, context=current_run_context(),
        )
        self.last = Outcome(False, run_id, key, reasons, None, self.name)
        emit_run(store, run_id, "start")
        with lease or contextlib.nullcontext():
            try:
                value = self._invoke(store, args, kwargs)
                if mode.writes:
                    value = self._store_value(store, manifest, key, job_id, run_id, value)
            except BaseException as e:
                status = "ABORTED" if isinstance(e, KeyboardInterrupt | SystemExit) else "FAILED"
                store.finish_run(run_id, status=status, error=f"{type(e).__name__}: {e}"[:2000])
                emit_run(store, run_id, "end")
                raise
            store.finish_run(run_id, status="COMPLETED")
        emit_run(store, run_id, "end")
        return value

    def _invoke(self, store: CacheStore, args: Any, kwargs: Any) -> Any:
        """Run the function (on a miss), upstream references resolved to their values. An adapter whose
        functions also write elsewhere (KFP output artifacts) overrides this to return what is cached."""
        return self.fn(*[resolve(a, store) for a in args], **{k: resolve(v, store) for k, v in kwargs.items()})

    def _store_value(
        self, store: CacheStore, manifest: KeyManifest, key: str, job_id: int, run_id: str, value: Any
    ) -> Any:
        m = materializer_for(value, self.allow_pickle, self.name)
        tmp = store.artifacts.new_temp_path()
        try:
            meta = m.save(value, tmp, SaveContext(store.artifacts))
        except BaseException:
            os.unlink(tmp)
            raise
        record = store.artifacts.publish(tmp)
        # Return what a hit would return (read back and verified): hit and miss are indistinguishable.
        stored = self._load(store, record.hash, m.id, meta, None)
        value_hash = ndarray_hash(stored) if m.name == "numpy" else None
        if value_hash is not None:
            remember_array_hash(stored, value_hash, trusted=True)
        store.put_entry(key, job_id, manifest.to_dict(), run_id, record, m.id, meta, value_hash)
        return stored

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self.__call__, obj)

    def __repr__(self) -> str:
        return f"<cached {self.name}>"


# The options ``cached`` takes (what adapters accept next to their own arguments), from the one signature.
CACHE_OPTIONS = frozenset(inspect.signature(CachedFunction.__init__).parameters) - {"self", "fn"}


def _ref(store: CacheStore, entry: Any) -> ArtifactRef:
    return ArtifactRef(store.artifacts.uri_for(entry.artifact_hash), entry.artifact_hash, entry.materializer,
                       entry.key, entry.run_id)


@overload
def cached(fn: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def cached(
    *, name: str | None = ..., namespace: str | None = ..., env: str | Sequence[str] = ...,
    version: str | int | None = ..., max_age: float | None = ..., cache: str | CacheMode | bool | None = ...,
    code_deps: Iterable[Any] = ..., file_deps: Iterable[str] = ..., exclude: Iterable[str] = ...,
    pickle: bool = ..., single_flight: bool = ..., wait_timeout: float | None = ...,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...
def cached(fn: Any = None, /, **options: Any) -> Any:
    """Cache a function on the content of its code, parameters, inputs and environment.

    Options: ``name`` (job name, default ``module.qualname``), ``namespace`` (scope, default
    ``$LINEAGE_NAMESPACE`` or ``default``), ``env`` (``"imports"`` | ``"full"`` | ``"none"`` | a list of
    distribution names), ``version`` (a salt you bump by hand), ``max_age`` (seconds; a lookup rule,
    not key material), ``cache`` (``off|read|write|readwrite``, overrides ``LINEAGE_CACHE``),
    ``code_deps`` (extra functions/modules), ``file_deps`` (globs relative to the function's file),
    ``exclude`` (parameters left out of the key), ``pickle`` (allow pickling results),
    ``single_flight`` (default on: concurrent misses of one key compute once, the others wait up to
    ``wait_timeout`` seconds, default ``$LINEAGE_WAIT_TIMEOUT`` or 3600).
    """
    if fn is not None:
        return CachedFunction(fn, **options)
    return lambda f: CachedFunction(f, **options)


def explain(fn: Any) -> Outcome:
    """The outcome of the last call of cached function ``fn`` in this process."""
    if not isinstance(fn, CachedFunction):
        raise ConfigError(f"{fn!r} is not a @cached function")
    if fn.last is None:
        raise ConfigError(f"{fn.name} has not been called in this process yet")
    return fn.last
