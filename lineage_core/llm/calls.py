"""The LLM call cache: one decision per call — replay a stored answer, or send it and record what came back.

Shared by the httpx transports and the LangChain cache. A call becomes a key manifest (``scope``, ``step`` =
the endpoint's job ``llm.<kind>``, ``llm`` = the request's fields, each hashed by type and value; their
short, redacted renderings beside it for explanations), is looked up, and on a miss is sent once across
threads, processes and hosts (the store's leases: the others wait for the stored answer). Every call — hit,
miss or pass-through — is recorded through :class:`~lineage_core.runs.RunRecorder` as a child run of the
current step with the ``llm`` facet in its context: model, token usage, latency, cost, and on a hit what it
saved (the producing call's latency, tokens and cost).

A miss explains itself like any step's ("temperature 0 → 0.7", "messages changed"): the manifest is diffed
field by field against the nearest previous call of the endpoint.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .. import settings
from ..errors import ArtifactError, StoreError
from ..function_key import display
from ..hashing.content import hash_bytes
from ..hashing.values import hash_value
from ..ids import new_run_id
from ..keys import KeyManifest, short
from ..redact import redact_value
from ..runs import Reason, ReasonKind, RunRecorder, RunStatus, explain_miss
from ..runtime import default_store, process_environment
from ..singleflight import MISS, Lease, lead_or_wait
from .explain import GENERIC, field_reasons
from .lineage import child_context, current_step
from .policy import LLMCachePolicy, SampleCounter, effective_policy, explicit_scope
from .pricing import DEFAULT_PRICES, Price, cost
from .record import StoredResponse, scrub

if TYPE_CHECKING:
    from ..store import CacheStore

log = logging.getLogger("lineage_core.llm")
_TOKEN_COUNT = re.compile(r"^(max|min)_\w*tokens$|^top_logprobs$")
MATERIALIZER = "json@1"  # the stored document is plain JSON (lineage_core.store.materializers' json format)


class _Displays(Mapping[str, str]):
    """The fields' renderings for explanations, made only when a miss stores its manifest (never on a hit)."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields = fields
        self._shown: dict[str, str] | None = None

    def _all(self) -> dict[str, str]:
        if self._shown is None:
            self._shown = {f"llm.{k}": _shown(k, v) for k, v in self._fields.items()}
        return self._shown

    def __getitem__(self, key: str) -> str:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _shown(name: str, value: Any) -> str:
    """A field as an explanation shows it: a short string as it is (``model gpt-4o-mini``), anything else as
    ``@cached`` shows an argument; secrets redacted either way (``max_tokens`` is a count, not a secret)."""
    if _TOKEN_COUNT.match(name):
        name = "value"
    if isinstance(value, str) and len(value) <= 60 and "\n" not in value:
        return redact_value(name, value) or "''"
    return display(name, value)


_MEMO_SIZE = 256  # requests whose manifest a client remembers (a replayed evaluation repeats its prompts)
T = TypeVar("T")


class _Memo(Generic[T]):
    """A small thread-safe LRU map."""

    def __init__(self, size: int) -> None:
        self.size, self._items, self._lock = size, OrderedDict[Hashable, T](), threading.Lock()

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass
class Call:
    """One LLM call being decided."""

    store: CacheStore
    runs: RunRecorder
    manifest: KeyManifest
    model: str | None
    kind: str
    started: float
    policy: LLMCachePolicy
    bypass: str | None  # why this call is sent uncached whatever the policy says
    step: dict[str, Any] | None
    sample: int | None = None
    stream: bool = False


@dataclass
class Hit:
    record: StoredResponse
    run_id: str
    source_run_id: str
    value: Any = None  # what ``load`` made of the record


@dataclass
class Miss:
    """A call to send upstream; then :meth:`CallCache.finish` (an answer) or :meth:`CallCache.fail`."""

    call: Call
    run_id: str
    reasons: list[Reason]
    store_it: bool
    lease: Lease | None = None
    done: bool = field(default=False, repr=False)


class CallCache:
    """Decides and records LLM calls for one client (a transport, a LangChain cache).

    ``llm_cache``: the policy (see :mod:`lineage_core.llm.policy`); ``namespace``: the scope of keys and jobs
    (default ``$LINEAGE_NAMESPACE``); ``prices``: model -> :class:`Price` over :data:`DEFAULT_PRICES`;
    ``salt``: a version you bump by hand to start afresh; ``single_flight``/``wait_timeout``: as ``@cached``'s.
    """

    def __init__(self, *, llm_cache: str | LLMCachePolicy | None = None, namespace: str | None = None,
                 prices: Mapping[str, Price] | None = None, salt: str | None = None, single_flight: bool = True,
                 wait_timeout: float | None = None) -> None:
        self.policy = LLMCachePolicy.parse(llm_cache)
        self.namespace = namespace
        self.prices: dict[str, Price] = {**DEFAULT_PRICES, **(prices or {})}
        self.salt = salt
        self.single_flight = single_flight
        self.wait_timeout = wait_timeout
        self._samples = SampleCounter()
        self._git_dir = os.getcwd()  # whose git state the calls' environment records: where the client was made
        self._manifests: _Memo[tuple[KeyManifest, str]] = _Memo(_MEMO_SIZE)
        self._records: _Memo[tuple[StoredResponse, Any]] = _Memo(_MEMO_SIZE)  # digest -> verified record, saving

    # -- the key ------------------------------------------------------------------------------------
    def prepare(self, kind: str, fields: dict[str, Any], *, model: str | None, nondeterministic: str | None,
                bypass: str | None = None, stream: bool = False, identity: Hashable | None = None) -> Call:
        """The call's manifest and run recorder; a sampled request under the ``sample`` policy claims its index.
        ``identity``: what determines ``fields`` wholly (the transport's endpoint, query and body bytes): a
        request seen before reuses its manifest and key instead of hashing every field again."""
        store = default_store()
        scope = settings.namespace(self.namespace)
        job = f"llm.{kind}"
        policy = effective_policy(self.policy)
        step = current_step()
        sample = None
        if nondeterministic and bypass is None:
            if policy is LLMCachePolicy.SAMPLE:
                base = KeyManifest({"scope": scope, "step": job, "llm": self._hashes(fields)}).key()
                holder = explicit_scope() or (step["run_id"] if step else self)
                sample = self._samples.claim(holder, base)
                fields = {**fields, "sample": sample}
            else:
                bypass = (f"{nondeterministic}: not cached (llm_cache='sample' caches each sample; "
                          "temperature=0 or a seed makes it reproducible)")
        memo = None if identity is None else (identity, scope, job, sample)
        known = self._manifests.get(memo) if memo is not None else None
        if known is None:
            components: dict[str, Any] = {"scope": scope, "step": job, "llm": self._hashes(fields)}
            if self.salt is not None:
                components["salt"] = self.salt
            manifest = KeyManifest(components, _Displays(fields))
            known = (manifest, manifest.key())
            if memo is not None:
                self._manifests.put(memo, known)
        manifest, key = known
        runs = RunRecorder(store, scope, key, job)
        return Call(store, runs, manifest, model, kind, time.time(), policy, bypass, step, sample, stream)

    @staticmethod
    def _hashes(fields: Mapping[str, Any]) -> dict[str, str]:
        """Each field's hash: its canonical JSON (keys sorted; JSON's types — a string is never the number it
        spells) through lineage_core.hashing; a value JSON cannot spell is hashed by lineage_core's typed hasher."""
        out = {}
        for name, value in fields.items():
            try:
                text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError):
                out[name] = hash_value(value, name)
                continue
            out[name] = hash_bytes(text.encode("utf-8", "surrogatepass"))
        return out

    # -- the decision -------------------------------------------------------------------------------
    def decide(self, call: Call, load: Callable[[StoredResponse], Any] | None = None) -> Hit | Miss:
        """A hit (recorded) or a miss to send (explained; the leader's lease taken when single-flight), waiting
        while another worker sends the same call. ``load`` turns a stored record into the caller's value; one it
        cannot (ValueError) is a damaged entry."""
        outcome = self._decide(call, load, block=True, concurrent=False)
        assert outcome is not None  # a blocking decision always decides
        return outcome

    def try_decide(self, call: Call, concurrent: bool = False) -> Hit | Miss | None:
        """:meth:`decide` without waiting: None while another worker sends the same call (the caller, an event
        loop, waits its own way and asks again with ``concurrent=True``)."""
        return self._decide(call, None, block=False, concurrent=concurrent)

    def _decide(self, call: Call, load: Callable[[StoredResponse], Any] | None, *, block: bool,
                concurrent: bool) -> Hit | Miss | None:
        mode = settings.global_cache_mode()
        reasons: list[Reason] = []
        if call.policy is LLMCachePolicy.OFF:
            reasons.append(Reason(ReasonKind.CACHE_OFF, "LLM caching is off (llm_cache='off')"))
        elif call.bypass is not None:
            reasons.append(Reason(ReasonKind.CACHE_OFF, call.bypass))
            log.debug("%s %s: %s", call.runs.job, short(call.runs.key), call.bypass)
        elif not mode.reads:
            reasons.append(Reason.cache_off() if not mode.writes else Reason.reads_disabled(mode.value))
        if reasons:
            store_it = mode.writes and call.bypass is None and call.policy is not LLMCachePolicy.OFF
            return Miss(call, new_run_id(), reasons, store_it)
        hit = self._hit(call, reasons, load, concurrent)
        if hit is not MISS:
            return hit  # type: ignore[no-any-return]
        run_id = new_run_id()
        lease = None
        if self.single_flight and mode.writes:
            led = self._lead(call, run_id, load, block)
            if led is None or isinstance(led, Hit):
                return led
            lease = led.__enter__()
        reasons = self.explain(call, reasons)
        if lease is not None and lease.took_over:
            call.store.abandon_run(lease.took_over, "its lease expired: the process sending the LLM call stopped")
            reasons.append(Reason.took_over(lease.took_over))
        log.info("cache miss: %s key %s: %s", call.runs.job, short(call.runs.key), "; ".join(reasons))
        return Miss(call, run_id, reasons, mode.writes, lease)

    def _lead(self, call: Call, run_id: str, load: Callable[[StoredResponse], Any] | None,
              block: bool) -> Lease | Hit | None:
        """The lease to send the call, the answer another worker stored meanwhile, or (not blocking) None."""
        store, key = call.store, call.runs.key
        if block:
            led = lead_or_wait(store, key, run_id, lambda: self._hit(call, [], load, concurrent=True),
                               call.runs.job, timeout=self.wait_timeout)
            return led[0] if isinstance(led, tuple) else led
        ttl = settings.lease_ttl()
        acquired, previous = store.try_acquire(key, run_id, ttl)
        if not acquired:
            return None
        hit = self._hit(call, [], load, concurrent=True)  # stored between our lookup and the lease
        if hit is not MISS:
            store.release(key, run_id)
            return hit  # type: ignore[no-any-return]
        return Lease(store, key, run_id, ttl, previous)

    def explain(self, call: Call, reasons: list[Reason]) -> list[Reason]:
        """``explain_miss``'s reasons, the LLM request's change said field by field."""
        out = explain_miss(call.store, call.runs.job_id, call.manifest, reasons)
        if not any(r.kind is ReasonKind.CHANGED and r == GENERIC for r in out):
            return out
        fields = field_reasons(call.store.previous_manifests(call.runs.job_id, limit=100), call.manifest)
        return [r for r in out if r != GENERIC] + [Reason(ReasonKind.CHANGED, text) for text in fields]

    def _hit(self, call: Call, reasons: list[Reason], load: Callable[[StoredResponse], Any] | None,
             concurrent: bool = False) -> Any:
        store, key = call.store, call.runs.key
        entry = store.lookup(key)
        if entry is None:
            return MISS
        try:
            known = self._records.get(entry.artifact_hash)
            if known is None:
                known = self._verified_record(store, entry.artifact_hash, entry.size)
            record, saved = known
            value = load(record) if load is not None else None
        except (ArtifactError, ValueError) as e:
            store.tombstone(key)
            log.warning("cache entry %s for %s discarded, calling again: %s", short(key), call.runs.job, e)
            reasons.append(Reason.damaged("LLM response", e))
            return MISS
        facet = self._facet(call, usage=None, cost_usd=0.0, model=record.produced.get("model") or call.model,
                            saved=saved)
        run_id, _note = call.runs.hit(entry.run_id, environment_hash=self._environment(store), started=call.started,
                                      concurrent=concurrent, context=child_context(facet, call.step))
        return Hit(record, run_id, entry.run_id, value)

    def _verified_record(self, store: CacheStore, digest: str, size: int | None) -> tuple[StoredResponse, Any]:
        """The stored response under ``digest``, read and verified (its bytes hash to it), and what a hit of it
        saves; remembered by digest, so a later hit of the same answer in this client reads nothing from disk: what
        it serves is these verified bytes' parse, whatever happens to the file meanwhile (the entry is still looked
        up on every hit, so an invalidated or re-pointed entry is never served)."""
        record = StoredResponse.from_bytes(store.artifacts.read_verified(digest, store, size))
        produced = record.produced
        saved_cost = cost(produced.get("model"), produced.get("usage"), self.prices)
        saved = {"latency_s": produced.get("latency_s"), "tokens": produced.get("usage"),
                 "cost_usd": saved_cost if saved_cost is not None else produced.get("cost_usd")}
        self._records.put(digest, (record, saved))
        return record, saved

    # -- the end of a miss ----------------------------------------------------------------------------
    def finish(self, miss: Miss, record: StoredResponse) -> None:
        """Record the answer of a sent call (and store it when the call may be cached)."""
        if miss.done:
            return
        miss.done = True
        call = miss.call
        latency = time.time() - call.started
        usage, model = record.produced.get("usage"), record.produced.get("model") or call.model
        usd = cost(model, usage, self.prices)
        produced = {"model": model, "usage": usage, "latency_s": round(latency, 6), "cost_usd": usd}
        try:
            self._begin(miss, self._facet(call, usage=usage, cost_usd=usd, model=model, latency=latency))
            if miss.store_it:
                stored = StoredResponse(record.status, record.content_type, record.body, record.events, produced)
                self._store(call, miss.run_id, scrub(stored))
            call.runs.finish(miss.run_id, RunStatus.COMPLETED)
        finally:
            self._release(miss)

    def fail(self, miss: Miss, error: str, status: RunStatus = RunStatus.FAILED) -> None:
        """Record a call that brought no answer to keep (an error, an interrupted stream); nothing is stored."""
        if miss.done:
            return
        miss.done = True
        try:
            self._begin(miss, self._facet(miss.call, usage=None, cost_usd=None, model=miss.call.model,
                                          latency=time.time() - miss.call.started))
            miss.call.runs.finish(miss.run_id, status, error=error)
        finally:
            self._release(miss)

    def _begin(self, miss: Miss, facet: dict[str, Any]) -> None:
        call = miss.call
        call.runs.begin(miss.run_id, miss.reasons, environment_hash=self._environment(call.store),
                        context=child_context(facet, call.step), started=call.started)

    @staticmethod
    def _store(call: Call, run_id: str, record: StoredResponse) -> None:
        """Store the answer; a store that cannot take it (a full disk, a concurrent writer of the same key)
        costs the next caller a miss, never this caller its answer."""
        store, artifacts = call.store, call.store.artifacts
        try:
            tmp = artifacts.new_temp_path()
            with artifacts.writing(tmp), open(tmp, "wb") as f:
                f.write(record.to_bytes())
            published = artifacts.publish(tmp)
            store.put_entry(call.runs.key, call.runs.job_id, call.manifest.to_dict(), run_id, published,
                            MATERIALIZER, {}, None)
        except (ArtifactError, StoreError) as e:
            stored = store.lookup(call.runs.key) is not None  # another writer's answer is there: nothing lost
            log.log(logging.INFO if stored else logging.WARNING, "the answer of %s key %s was not stored: %s",
                    call.runs.job, short(call.runs.key), e)

    @staticmethod
    def _release(miss: Miss) -> None:
        if miss.lease is not None:
            miss.lease.__exit__(None, None, None)
            miss.lease = None

    def _environment(self, store: CacheStore) -> str:
        return store.put_environment(process_environment(self._git_dir))

    def _facet(self, call: Call, *, usage: Any, cost_usd: float | None, model: str | None,
               latency: float | None = None, saved: dict[str, Any] | None = None) -> dict[str, Any]:
        facet: dict[str, Any] = {
            "kind": call.kind, "model": model, "usage": usage, "cost_usd": cost_usd,
            "latency_s": round(time.time() - call.started if latency is None else latency, 6),
            "stream": call.stream,
        }
        if call.sample is not None:
            facet["sample"] = call.sample
        if saved is not None:
            facet["saved"] = saved
        return facet
