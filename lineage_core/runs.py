"""The run lifecycle: one vocabulary of run states and event phases, and one recorder that writes a run's
row and emits its OpenLineage events.

Every entry point that runs a step — a cached function, a cached command decided by an orchestrator, a
command run under ``lineage exec``, an adapter — records through :class:`RunRecorder`, so a hit, a miss
and a finished run mean the same thing (and say the same words) wherever they happen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from .context import core_logs_outcome, current_run_context
from .ids import new_run_id
from .keys import KeyManifest, explain_difference, nearest, short
from .openlineage.emitter import emit_run
from .redact import redact_text
from .status import EventType, Phase, RunStatus

if TYPE_CHECKING:
    from .store import CacheEntry, CacheStore
    from .store.protocol import RunDataset

log = logging.getLogger("lineage_core")
__all__ = ["EventType", "Phase", "Reason", "ReasonKind", "RunRecorder", "RunStatus", "explain_miss"]


class ReasonKind(str, Enum):
    """Why a run hit or missed; the kind decides what happens next, the text is what people read."""

    HIT = "hit"
    FIRST_RUN = "first_run"  # no previous key of this step in its namespace
    CHANGED = "changed"  # a component of the key differs from the nearest previous manifest
    SAME_KEY = "same_key"  # the key was seen before but its entry is gone (invalidated, never stored)
    REFRESH = "refresh"
    CACHE_OFF = "cache_off"
    READS_DISABLED = "reads_disabled"
    EXPIRED = "expired"  # older than max_age
    DAMAGED = "damaged"  # the stored value failed verification (tombstoned)
    OUTPUT_CHANGED = "output_changed"  # a command's recorded output is gone or differs
    TOOK_OVER = "took_over"  # the lease of a stopped worker was taken over

    @property
    def explains_key(self) -> bool:
        """A miss of this kind still says how the key differs from the previous one (a policy miss —
        caching off, reads disabled — does not: the key is not why)."""
        return self in (ReasonKind.REFRESH, ReasonKind.EXPIRED, ReasonKind.DAMAGED, ReasonKind.OUTPUT_CHANGED)


class Reason(str):
    """A reason as text (stored and logged as it reads) that also knows its :class:`ReasonKind`."""

    kind: ReasonKind

    def __new__(cls, kind: ReasonKind, text: str) -> Reason:
        self = super().__new__(cls, text)
        self.kind = kind
        return self

    # The wording of every reason lives here, once.
    @classmethod
    def hit(cls, key: str, source_run_id: str, concurrent: bool = False) -> Reason:
        said = _HITS.get((key, source_run_id, concurrent))  # every hit of an entry says the same: worded once
        if said is None:
            note = f"cache hit: key {short(key)} from run {source_run_id}"
            if concurrent:
                note += " (computed concurrently: this call waited for it)"
            said = cls(ReasonKind.HIT, note)
            if len(_HITS) >= 256:
                _HITS.clear()
            _HITS[key, source_run_id, concurrent] = said
        return said

    @classmethod
    def first_run(cls, step: str, namespace: str) -> Reason:
        return cls(ReasonKind.FIRST_RUN, f"first run of {step} (no previous key in namespace {namespace})")

    @classmethod
    def same_key(cls) -> Reason:
        return cls(ReasonKind.SAME_KEY, "same key as a previous run, but its entry was invalidated or never stored")

    @classmethod
    def refresh(cls) -> Reason:
        return cls(ReasonKind.REFRESH, "refresh requested")

    @classmethod
    def cache_off(cls) -> Reason:
        return cls(ReasonKind.CACHE_OFF, "caching is off (cache='off' or LINEAGE_CACHE=off)")

    @classmethod
    def reads_disabled(cls, mode: str) -> Reason:
        return cls(ReasonKind.READS_DISABLED, f"cache reads are disabled (mode {mode})")

    @classmethod
    def expired(cls, age: float, max_age: float) -> Reason:
        return cls(ReasonKind.EXPIRED, f"cached value is {age:.0f}s old, older than max_age={max_age:g}s")

    @classmethod
    def damaged(cls, what: str, error: object) -> Reason:
        return cls(ReasonKind.DAMAGED, redact_text(f"stored {what} failed verification ({error})"))

    @classmethod
    def output_changed(cls, uri: str, what: str, source_run_id: str) -> Reason:
        return cls(ReasonKind.OUTPUT_CHANGED, f"output {uri} {what} since run {source_run_id} wrote it")

    @classmethod
    def took_over(cls, run_id: str) -> Reason:
        return cls(ReasonKind.TOOK_OVER, f"took over from run {run_id}, whose worker stopped")


_HITS: dict[tuple[str, str, bool], Reason] = {}


def explain_miss(store: CacheStore, job_id: int, manifest: KeyManifest, reasons: list[Reason]) -> list[Reason]:
    """``reasons`` plus, unless the miss is a policy (caching off, reads disabled), how the key differs from
    the nearest previous manifest of the step — or that this is its first run."""
    if not all(r.kind.explains_key for r in reasons):
        return reasons
    out = list(reasons)
    prev = nearest(store.previous_manifests(job_id), manifest)
    if prev is None:
        out.append(Reason.first_run(manifest.step, manifest.scope))
    elif prev.key() != manifest.key():
        out += [Reason(ReasonKind.CHANGED, text) for text in explain_difference(prev, manifest)]
    elif not out:
        out.append(Reason.same_key())
    return out


class RunRecorder:
    """Writes one step's runs and emits their events: every entry point records through this.

    ``hit`` records a CACHED run (START and COMPLETE at once); ``begin`` a RUNNING one (START); ``finish``
    its end (the terminal event). The environment a run records is where it ran: a hit ran where it was
    asked for, so it records the asking process's environment, whoever produced the value.

    Datasets are recorded with the run row, when it is written: ``inputs`` (the step's data arguments, which
    the store resolves against earlier runs' outputs) with ``hit`` and ``begin``, and the outputs a completed
    run wrote with ``finish``. A hit writes no outputs: they are its source run's, recorded once. The events
    are built from these records alone. A completed run's metrics (:mod:`.metrics`) are written into its
    context by ``finish``; a hit has none of its own (they are its source run's, read with it).
    """

    def __init__(self, store: CacheStore, namespace: str, key: str, job: str,
                 inputs: Sequence[RunDataset] = ()) -> None:
        self.store, self.namespace, self.key, self.job, self.inputs = store, namespace, key, job, inputs
        self._job_id: int | None = None
        self._contexts: dict[str, dict[str, Any]] = {}  # the context each run began with (finish adds metrics)

    @property
    def job_id(self) -> int:
        """The job's id in the store, asked for when a record first needs it: a server store's hit names the job
        and resolves it with the lookup (:meth:`find`), so a fresh pod's hit costs no request of its own for it."""
        if self._job_id is None:
            self._job_id = self.store.job_id(self.namespace, self.job)
        return self._job_id

    def hit(self, source_run_id: str, *, environment_hash: str | None, started: float, concurrent: bool = False,
            context: dict[str, Any] | None = None, recorded: str | None = None) -> tuple[str, Reason]:
        """Record a CACHED run (``recorded``: the one :meth:`find` already wrote, which is only completed here)."""
        run_id = recorded or new_run_id()
        note = Reason.hit(self.key, source_run_id, concurrent)
        if recorded is None:
            self.store.insert_run(
                id=run_id, job_id=self.job_id, status=RunStatus.CACHED.value, cache_key=self.key,
                source_run_id=source_run_id, environment_hash=environment_hash, started_at=started,
                ended_at=time.time(), reasons=[str(note)],
                context=current_run_context() if context is None else context, inputs=self.inputs,
            )
        emit_run(self.store, run_id, Phase.ALL)
        if core_logs_outcome() and log.isEnabledFor(logging.INFO):
            log.info("%s (%s)", note, self.job)
        return run_id, note

    def find(self, started: float, max_age: float | None = None, concurrent: bool = False,
             source_dir: str | None = None) -> tuple[CacheEntry | None, str | None]:
        """The live entry and, on a store that records a hit with its lookup (``lookup_and_record``: the server
        store, one request), the id of the CACHED run it recorded (else None): pass it to :meth:`hit` once the
        value is accepted (events, log line), or to :meth:`refuse` (the run ends FAILED, saying why)."""
        record = getattr(self.store, "lookup_and_record", None)
        if record is None:
            return self.store.lookup(self.key), None
        from .runtime import process_environment
        from .store.protocol import HitRequest

        run_id = new_run_id()
        hit = HitRequest(run_id, (self.namespace, self.job), process_environment(source_dir), started,
                         current_run_context(), self.inputs, concurrent, max_age)
        entry, recorded = record(self.key, hit)
        return entry, run_id if entry is not None and recorded else None

    def refuse(self, recorded: str | None, why: object) -> None:
        """The client refused the entry's value (damaged, or not loadable under its policy): the entry is tombstoned
        and a run :meth:`find` recorded for it ends FAILED; the call then computes under a run of its own."""
        self.store.tombstone(self.key)
        if recorded is not None:
            self.store.finish_run(recorded, status=RunStatus.FAILED.value,
                                  error=redact_text(f"the cached value was refused: {why}")[:2000])

    def begin(self, run_id: str, reasons: Sequence[str], *, environment_hash: str | None = None,
              context: dict[str, Any] | None = None, started: float | None = None, emit: bool = True) -> None:
        context = self._contexts[run_id] = current_run_context() if context is None else context
        self.store.insert_run(
            id=run_id, job_id=self.job_id, status=RunStatus.RUNNING.value, cache_key=self.key,
            environment_hash=environment_hash, started_at=time.time() if started is None else started,
            reasons=[str(r) for r in reasons], context=context, inputs=self.inputs,
        )
        if emit:
            emit_run(self.store, run_id, Phase.START)

    def finish(self, run_id: str, status: RunStatus, *, error: str | None = None,
               environment_hash: str | None = None, emit: bool = True, outputs: Sequence[RunDataset] = (),
               metrics: dict[str, float] | None = None) -> None:
        values: dict[str, Any] = {"status": status.value, "error": None if error is None else redact_text(error)[:2000]}
        if environment_hash is not None:
            values["environment_hash"] = environment_hash
        context = self._contexts.pop(run_id, None)
        if metrics:  # written with the run's end (a run begun elsewhere: its context as stored)
            from .metrics import with_metrics

            begun = self.store.get_run(run_id)["context"] if context is None else context
            values["context"] = with_metrics(begun, metrics)
        self.store.finish_run(run_id, outputs=outputs if status is RunStatus.COMPLETED else (), **values)
        if emit:
            emit_run(self.store, run_id, Phase.END)

    def fail(self, run_id: str, exc: BaseException, metrics: dict[str, float] | None = None) -> None:
        """The run's end when its step raised: ABORTED for an interrupt, FAILED otherwise; with the metrics the step
        logged before it raised."""
        status = RunStatus.ABORTED if isinstance(exc, KeyboardInterrupt | SystemExit) else RunStatus.FAILED
        self.finish(run_id, status, error=f"{type(exc).__name__}: {exc}", metrics=metrics)
