"""``@cached``: content-addressed caching of a Python function, with a run record per call.

Call path: bind arguments -> key manifest (code fingerprint and environment computed once per process; parameters
and data inputs hashed per call, files through the stat cache) -> lookup -> on a hit, load and verify the stored
artifact and record a CACHED run pointing at the producing run; on a miss, explain why in one INFO line, run the
function, store the result atomically and record it. Anything uncertain is a miss: a missing or corrupt artifact
is tombstoned, logged once as a WARNING and recomputed — never an exception, never a wrong value.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from . import function_key, settings
from .context import nested_outcomes_logged, run_context
from .errors import ArtifactError, ConfigError, MaterializerError
from .function_key import Binder, StaticParts, call_manifest, input_datasets, output_dataset, static_parts, step_name
from .hashing.values import ndarray_hash, remember_array_hash
from .ids import new_run_id
from .keys import KeyManifest, short
from .modes import CacheMode, parse_verify
from .outcome import Outcome as Outcome  # also lineage_core.cache.Outcome, where it was defined first
from .runs import Reason, RunRecorder, RunStatus, explain_miss
from .runtime import default_store, process_environment
from .singleflight import MISS, Lease, lead_or_wait
from .store.materializers import LoadContext, SaveContext, materializer_by_id, materializer_for

if TYPE_CHECKING:
    from .refs import ArtifactRef
    from .store import CacheStore
    from .store.protocol import RunDataset

log = logging.getLogger("lineage_core")
_UNRESOLVED = object()
_scratch = functools.lru_cache(maxsize=64)(lambda home: home / "materialized")  # joined once per store home
P = ParamSpec("P")
R = TypeVar("R")


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
        hardware: bool = False,
        verify: str | None = None,
        metrics: bool = False, llm_cache: str | None = None,
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
        self.name = name or step_name(fn)
        self.namespace, self.env_policy = namespace, env
        self.version = None if version is None else str(version)
        self.max_age = max_age
        self.mode = None if cache is None else CacheMode.parse(cache, "cache")
        self.code_deps, self.file_deps = list(code_deps), list(file_deps)
        self.exclude = frozenset(exclude)
        self.allow_pickle = pickle
        self.single_flight, self.wait_timeout = single_flight, wait_timeout
        self.hardware, self.metrics = hardware, metrics  # metrics: the result is also the run's metrics
        self.verify = None if verify is None else parse_verify(verify, "verify")
        if llm_cache is not None:  # checked now; lineage_core.llm is imported only by a step that sets it
            from .llm.policy import step_scope
        self.llm_scope = contextlib.nullcontext if llm_cache is None else step_scope(llm_cache)  # a miss's body
        self.signature = inspect.signature(fn)
        self._refresh_kw = "refresh" not in self.signature.parameters
        source = inspect.getsourcefile(fn)
        self._source_dir = os.path.dirname(os.path.abspath(source)) if source else None
        self._static: StaticParts | None = None
        self._bind = Binder(self.signature)  # the hit path's signature.bind + apply_defaults
        plain_keys = type(self).key_arguments is CachedFunction.key_arguments  # no adapter maps the arguments
        self._keys = function_key.KeyMemo(plain_keys and not self.file_deps)
        self._returns: object = _UNRESOLVED
        self.last: Outcome | None = None
        unknown = self.exclude - set(self.signature.parameters)
        if unknown:
            raise ConfigError(f"exclude={sorted(unknown)} names no parameter of {self.name}")
        functools.update_wrapper(self, fn)

    # -- key ------------------------------------------------------------------------------------
    def _static_parts(self) -> StaticParts:
        """Code fingerprint, env component, materializer set, image and hardware: fixed for the process."""
        if self._static is None:
            self._static = static_parts(self.fn, self.code_deps, self.env_policy, self.allow_pickle, self.hardware,
                                        self._source_dir)
        return self._static

    def manifest(self, *args: Any, **kwargs: Any) -> KeyManifest:
        """The key manifest this call would have (without running or looking anything up)."""
        return self._keyed(args, kwargs, default_store())[0]

    # -- hooks an adapter may override (public: the integration surface, see lineage_core.integration) --
    def key_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The bound arguments as the key sees them (default: as they are). An adapter whose arguments are
        handles (KFP input artifacts) maps them to their content here."""
        return arguments

    def invoke(self, store: CacheStore, args: Any, kwargs: Any) -> Any:
        """Run the function (on a miss), upstream references resolved to their values; returns what is
        cached. An adapter whose functions also write elsewhere (KFP output artifacts) returns those here."""
        if not function_key.any_artifact_ref(args, kwargs):
            return self.fn(*args, **kwargs)
        from .refs import resolve

        pickle_ok = self.allow_pickle
        return self.fn(*[resolve(a, store, pickle_ok) for a in args],
                       **{k: resolve(v, store, pickle_ok) for k, v in kwargs.items()})

    def restore_destination(self) -> Path | None:
        """Where a hit restores a file or directory result (default: the path materializer decides). An
        adapter that must never restore where another task may still be writing names a private place."""
        return None

    def expected_type(self) -> type | None:
        """The type a hit must load as (a stored value of any other type is a miss): the function's return
        annotation when it is a class. An adapter whose :meth:`invoke` caches something else says so here."""
        if type(self).invoke is not CachedFunction.invoke:
            return None
        if self._returns is _UNRESOLVED:
            try:
                hint = typing.get_type_hints(self.fn).get("return")
            except Exception:  # noqa: BLE001 - an annotation we cannot resolve constrains nothing
                hint = None
            self._returns = hint if isinstance(hint, type) and hint not in (object, typing.Any) else None
        return self._returns  # type: ignore[return-value]

    @property
    def passes_by_reference(self) -> bool:
        """True when :meth:`ref` can hand the result on by reference: the layer is enabled and the cache writes.
        Otherwise (``LINEAGE_DISABLED``, ``cache='off'|'read'``) an adapter passes the plain value, as without us."""
        return not settings.disabled() and (self.mode or settings.global_cache_mode()).writes

    def _manifest(self, arguments: dict[str, Any], store: CacheStore, scope: str | None = None) -> KeyManifest:
        """The manifest of a call whose arguments are as the key sees them (:meth:`key_arguments`)."""
        return call_manifest(
            self.fn, self._static_parts(), scope=scope or settings.namespace(self.namespace), name=self.name,
            signature=self.signature, arguments=arguments, exclude=self.exclude,
            file_deps=self.file_deps, source_dir=self._source_dir, salt=self.version, store=store,
        )

    def _keyed(self, args: Any, kwargs: Any, store: CacheStore) -> tuple[KeyManifest, str, tuple[RunDataset, ...]]:
        """The call's manifest, key and input datasets; remembered for a call whose arguments are all small
        immutable scalars (nothing else can change its key in this process: no file deps, no adapter's mapping)."""
        scope = settings.namespace(self.namespace)
        known = None if (memo := self._keys.at(scope, args, kwargs)) is None else self._keys.get(memo)
        if known is None:
            arguments = self.key_arguments(self._bind(args, kwargs))
            manifest = self._manifest(arguments, store, scope)
            inputs = input_datasets(self.signature, arguments, self.exclude, manifest.components["inputs"])
            known = self._keys.put(memo, (manifest, manifest.key(), inputs))
        return known

    # -- call -----------------------------------------------------------------------------------
    def refresh(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Recompute and overwrite the cached value for these arguments."""
        return self._call(args, kwargs, refresh=True)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if settings.disabled():  # the null path: the function, nothing recorded (upstream refs still resolve)
            if function_key.any_artifact_ref(args, kwargs):
                # the base's: the function on resolved values, never an adapter's extra outputs
                return CachedFunction.invoke(self, default_store(), args, kwargs)  # type: ignore[no-any-return]
            return self.fn(*args, **kwargs)
        refresh = bool(kwargs.pop("refresh", False)) if self._refresh_kw else False
        return self._call(args, kwargs, refresh)

    def ref(self, *args: Any, **kwargs: Any) -> ArtifactRef:
        """Call (hit or miss) and return the stored result by reference: what orchestrators pass between
        steps. A hit verifies the stored bytes but does not deserialise them. Only when
        :attr:`passes_by_reference`; adapters check it and call the step for a plain value otherwise."""
        refresh = bool(kwargs.pop("refresh", False)) if self._refresh_kw else False
        if not self.passes_by_reference:
            raise ConfigError(f"{self.name}: results pass by reference only while the cache writes "
                              "(check passes_by_reference and call the step for a plain value otherwise)")
        return self._call(args, kwargs, refresh, as_ref=True)  # type: ignore[return-value]

    def _call(self, args: Any, kwargs: Any, refresh: bool, as_ref: bool = False) -> R:
        mode = self.mode or settings.global_cache_mode()
        store = default_store()
        manifest, key, inputs = self._keyed(args, kwargs, store)
        runs = RunRecorder(store, manifest.scope, key, self.name, inputs)
        reasons: list[Reason] = []
        if mode is CacheMode.OFF:
            reasons.append(Reason.cache_off())
        elif refresh:
            reasons.append(Reason.refresh())
        elif not mode.reads:
            reasons.append(Reason.reads_disabled(mode.value))
        else:
            hit = self._try_hit(runs, reasons, as_ref=as_ref)
            if hit is not MISS:
                return hit  # type: ignore[no-any-return]
        value = self._miss(runs, manifest, mode, reasons, args, kwargs, refresh, as_ref)
        if as_ref and function_key.artifact_ref(value) is None:
            entry = store.lookup(key)
            assert entry is not None  # the cache writes (passes_by_reference): the miss stored it
            value = function_key.entry_ref(store, entry)
        return value  # type: ignore[no-any-return]

    def _try_hit(self, runs: RunRecorder, reasons: list[Reason], concurrent: bool = False,
                 as_ref: bool = False) -> Any:
        """The stored value with a CACHED run recorded, or MISS (with the reason appended)."""
        store, started = runs.store, time.time()
        entry, early = runs.find(started, self.max_age, concurrent, self._source_dir)  # early: the run it recorded
        if entry is None:
            return MISS
        if early is None and self.max_age is not None and started - entry.created_at > self.max_age:
            reasons.append(Reason.expired(started - entry.created_at, self.max_age))
            return MISS
        try:
            if as_ref:
                self._read(store, entry.artifact_hash, entry.size)
                value = function_key.entry_ref(store, entry)
            else:
                value = self._load(store, entry.artifact_hash, entry.materializer, entry.meta, entry.value_hash,
                                   self.restore_destination(), entry.size)
        except (ArtifactError, MaterializerError) as e:
            runs.refuse(early, e)
            log.warning("cache entry %s for %s discarded, recomputing: %s", short(runs.key), self.name, e)
            reasons.append(Reason.damaged("artifact", e))
            return MISS
        env_hash = store.put_environment(process_environment(self._source_dir))
        run_id, note = runs.hit(entry.run_id, environment_hash=env_hash, started=started, concurrent=concurrent,
                                recorded=early)
        self.last = Outcome(True, run_id, runs.key, [note], entry.run_id, self.name)
        return value

    def _read(self, store: CacheStore, digest: str, size: int | None) -> Any:
        """The blob, verified: hashed in full when this step (or ``LINEAGE_VERIFY``) says ``always``, else
        a large local blob's unchanged stat identity vouches for it; never read past its recorded size."""
        always = (self.verify or settings.verify_mode()) == "always"
        return store.artifacts.read_verified(digest, None if always else store, size)

    def _load(self, store: CacheStore, digest: str, mid: str, meta: dict[str, Any], value_hash: str | None,
              destination: Path | None = None, size: int | None = None) -> Any:
        """Load a stored value the way this step allows (its materializer policy, its return type): the
        entry names how it was stored, never how the client must load it."""
        m = materializer_by_id(mid, self.allow_pickle)
        data = self._read(store, digest, size)
        value = m.load(data, meta or {}, LoadContext(_scratch(store.home), store.artifacts, destination, digest))
        expected = self.expected_type()
        if expected is not None and not function_key.is_instance(value, expected):
            raise MaterializerError(f"the entry holds a {type(value).__qualname__} ({mid}), but {self.name} returns "
                                    f"{expected.__qualname__}")
        if value_hash is not None and mid.startswith("numpy@"):
            remember_array_hash(value, value_hash, trusted=True)
        return value

    def _miss(
        self, runs: RunRecorder, manifest: KeyManifest, mode: CacheMode, reasons: list[Reason], args: Any,
        kwargs: Any, refresh: bool = False, as_ref: bool = False,
    ) -> Any:
        store, key = runs.store, runs.key
        run_id = new_run_id()
        lease: Lease | None = None
        if mode.writes and mode.reads and not refresh and self.single_flight:
            led = lead_or_wait(store, key, run_id, lambda: self._try_hit(runs, [], concurrent=True, as_ref=as_ref),
                               self.name, timeout=self.wait_timeout)
            if isinstance(led, tuple):
                return led[0]  # another worker computed it while we waited: nothing to explain
            lease = led
        from .metrics import collect  # a miss's: a hit collects nothing

        reasons = explain_miss(store, runs.job_id, manifest, reasons)  # only the worker that computes explains
        if lease is not None and lease.took_over:
            store.abandon_run(lease.took_over, "its lease expired: the process computing it stopped")
            reasons.append(Reason.took_over(lease.took_over))
        log.info("cache miss: %s key %s: %s", self.name, short(key), "; ".join(reasons))  # said even if it fails
        runs.begin(run_id, reasons, environment_hash=store.put_environment(process_environment(self._source_dir)))
        self.last = Outcome(False, run_id, key, [str(r) for r in reasons], None, self.name)
        with lease or contextlib.nullcontext(), self.llm_scope():
            written: tuple[RunDataset, ...] = ()
            logged: dict[str, float] = {}  # what the step logged, kept if it raises
            try:
                with (run_context(step={"run_id": run_id, "namespace": manifest.scope, "name": self.name}),
                      nested_outcomes_logged()):
                    value, metrics = collect(lambda: self.invoke(store, args, kwargs), self.name, self.metrics, logged)
                if mode.writes:
                    value, output = self._store_value(store, manifest, runs.job_id, run_id, value)
                    written = (output,)
            except BaseException as e:
                runs.fail(run_id, e, logged)
                raise
            runs.finish(run_id, RunStatus.COMPLETED, outputs=written, metrics=metrics)
        return value

    def _store_value(self, store: CacheStore, manifest: KeyManifest, job_id: int, run_id: str,
                     value: Any) -> tuple[Any, RunDataset]:
        """The value as a hit would return it, stored, and the dataset it is (the run's output)."""
        m = materializer_for(value, self.allow_pickle, self.name)
        tmp = store.artifacts.new_temp_path()
        with store.artifacts.writing(tmp):  # removed on failure; a full disk is an ArtifactError with the fix
            meta = m.save(value, tmp, SaveContext(store.artifacts))
        record = store.artifacts.publish(tmp)
        expected = self.expected_type()
        if expected is not None and not function_key.is_instance(value, expected):
            log.warning("%s returned a %s but is annotated to return %s: its hits will be refused until they agree",
                        self.name, type(value).__qualname__, expected.__qualname__)
        # Return what a hit would return (read back and verified): hit and miss are indistinguishable. A path
        # comes back where the step put it (the client's own location, not one the entry names).
        stored = self._load(store, record.hash, m.id, meta, None, Path(value) if m.name == "path" else None)
        value_hash = ndarray_hash(stored) if m.name == "numpy" else None
        if value_hash is not None:
            remember_array_hash(stored, value_hash, trusted=True)
        store.put_entry(manifest.key(), job_id, manifest.to_dict(), run_id, record, m.id, meta, value_hash)
        return stored, output_dataset(store, record.hash, m.id, meta, stored, content=True)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self.__call__, obj)

    def __repr__(self) -> str:
        return f"<cached {self.name}>"


# The options ``cached`` takes (what adapters accept next to their own arguments), from the one signature.
CACHE_OPTIONS = frozenset(inspect.signature(CachedFunction.__init__).parameters) - {"self", "fn"}


@overload
def cached(fn: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def cached(
    *, name: str | None = ..., namespace: str | None = ..., env: str | Sequence[str] = ...,
    version: str | int | None = ..., max_age: float | None = ..., cache: str | CacheMode | bool | None = ...,
    code_deps: Iterable[Any] = ..., file_deps: Iterable[str] = ..., exclude: Iterable[str] = ...,
    pickle: bool = ..., single_flight: bool = ..., wait_timeout: float | None = ..., hardware: bool = ...,
    verify: str | None = ..., metrics: bool = ..., llm_cache: str | None = ...,
) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...
def cached(fn: Any = None, /, **options: Any) -> Any:
    """Cache a function on the content of its code, parameters, inputs and environment.

    Options: ``name`` (job name, default ``module.qualname``), ``namespace`` (scope, default ``$LINEAGE_NAMESPACE`` or
    ``default``), ``env`` (``"imports"`` | ``"full"`` | ``"none"`` | a list of distribution names), ``version`` (a salt
    you bump by hand), ``max_age`` (seconds; a lookup rule, not key material), ``cache`` (``off|read|write|readwrite``,
    overrides ``LINEAGE_CACHE``), ``code_deps`` (extra functions/modules), ``file_deps`` (globs relative to the
    function's file), ``exclude`` (parameters left out of the key), ``pickle`` (allow pickling results),
    ``single_flight`` (default on: concurrent misses of one key compute once, the others wait up to ``wait_timeout``
    seconds, default ``$LINEAGE_WAIT_TIMEOUT`` or 3600), ``hardware`` (the result depends on the GPU model and CUDA
    major: they become key material; a step in a GPU pod has them anyway), ``verify`` (``"stat"``, the default: a large
    local blob whose stat identity is unchanged is not hashed again; ``"always"``: every hit hashes its blob in full;
    default ``$LINEAGE_VERIFY``), ``metrics`` (the result, a ``dict[str, float]``, is also the run's metrics;
    ``lineage_core.log_metric`` records them from any step), ``llm_cache`` (the body's LLM cache policy,
    lineage_core.llm.policy).
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
