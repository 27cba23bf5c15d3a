"""Cached commands: a containerised step (a GPU training pod, a CLI tool) keyed like a cached function.

A command is keyed on what determines its outputs: the image (exact when pinned by digest; a tag is
keyed by name, since a tag can move), the command line, its literal non-secret environment, the content
of its declared inputs (fingerprinted remotely: nothing is downloaded) and its resource class (GPU type
and count). The cached value is the content hash of each declared output; a hit re-checks them, so an
output overwritten or deleted since is a miss, never a wrong hit.

Who does what:

- the orchestrator (:meth:`CommandStep.check`) decides hit or miss before any container starts, and on
  a miss records the RUNNING run and hands the container an :class:`ExecPlan`;
- inside the container ``lineage exec -- CMD…`` (:mod:`lineage_core.execution`) runs the command,
  captures the container's environment, hashes the outputs and writes a :class:`CommandResult`;
- :func:`complete` registers a result. It is idempotent, so the container (when it can reach the store)
  and the orchestrator (from the result file) may both call it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from . import settings
from .context import current_run_context
from .environment import EnvironmentSnapshot
from .errors import ArtifactError, ConfigError, InputMissingError, MaterializerError, RunNotFoundError
from .hashing.content import hash_bytes
from .hashing.remote import hash_uri
from .ids import new_run_id
from .keys import KeyContext, KeyManifest, short
from .redact import looks_secret, redact_argv, redact_url, redact_values
from .runs import Reason, RunRecorder, RunStatus, explain_miss
from .settings import PLAN_ENV
from .store.materializers import JsonMaterializer, LoadContext, SaveContext
from .store.protocol import RunDataset

if TYPE_CHECKING:
    from .store import CacheStore

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_JSON = JsonMaterializer()


def image_pinned(image: str | None) -> bool:
    """True when the image is pinned by content (``repo@sha256:…``), so the key is exact."""
    return bool(image and _DIGEST.search(image))


def keyed_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment variables that are key material: literal, non-secret, not our own plumbing."""
    return {k: v for k, v in env.items()
            if not looks_secret(k) and not k.startswith(("LINEAGE_", "OPENLINEAGE_"))}


@dataclass(frozen=True)
class CommandSpec:
    """What a command step is; everything here except ``name`` and ``namespace`` may change its outputs."""

    name: str
    command: tuple[str, ...]
    image: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    resources: Mapping[str, Any] = field(default_factory=dict)
    namespace: str | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        if not self.command:
            raise ConfigError(f"{self.name}: a command step needs a command to run")
        if not self.outputs:
            raise ConfigError(f"{self.name}: declare the command's outputs (URIs or prefixes) so a hit can "
                              "return them; a command with no declared outputs cannot be cached")


class ExecPlan(BaseModel):
    """What the orchestrator decided, handed to ``lineage exec`` in the container (env ``LINEAGE_EXEC``)."""

    run_id: str
    key: str
    job: str
    namespace: str
    manifest: dict[str, Any]
    outputs: list[str]
    reasons: list[str] = []
    context: dict[str, Any] = {}


class CommandResult(BaseModel):
    """What ``lineage exec`` reports (the XCom result file): verdict, outputs, the container's environment."""

    schema_version: Literal["lineage.exec/1"] = "lineage.exec/1"
    run_id: str
    key: str
    job: str
    namespace: str
    status: Literal["COMPLETED", "FAILED", "CACHED"]
    exit_code: int
    outputs: dict[str, str] = {}  # declared output URI -> content hash
    environment: dict[str, Any] | None = None  # EnvironmentSnapshot.to_dict() inside the container
    started_at: float
    ended_at: float
    error: str | None = None
    source_run_id: str | None = None  # on a hit: the run that produced the outputs


@dataclass
class Verdict:
    hit: bool
    run_id: str
    key: str
    reasons: list[Reason]
    outputs: dict[str, str] = field(default_factory=dict)
    source_run_id: str | None = None


def command_manifest(spec: CommandSpec, store: CacheStore) -> KeyManifest:
    inputs: dict[str, str] = {}
    for uri in spec.inputs:
        try:
            inputs[uri] = hash_uri(uri, store)
        except FileNotFoundError:
            raise InputMissingError(f"{spec.name}: declared input {redact_url(uri)} does not exist") from None
    env = keyed_env(spec.env)
    display = {f"env {k}": v[:120] for k, v in redact_values(env).items()}
    display["command"] = shlex.join(redact_argv(spec.command))[:200]
    display.update({uri: uri for uri in inputs})  # inputs are datasets in lineage (named by their URI)
    return KeyManifest.build(
        KeyContext(image=spec.image), display=display,
        scope=settings.namespace(spec.namespace), step=spec.name,
        command=hash_bytes(json.dumps(list(spec.command)).encode()),
        env_vars={k: hash_bytes(v.encode()) for k, v in sorted(env.items())},
        resources=json.loads(json.dumps(dict(spec.resources), sort_keys=True)), inputs=inputs,
        outputs="command outputs " + " ".join(sorted(spec.outputs)), salt=spec.version,
    )


class CommandStep:
    """The orchestrator's side of a cached command: key, hit check, and the plan for a miss."""

    def __init__(self, spec: CommandSpec, store: CacheStore | None = None) -> None:
        from .runtime import default_store

        self.spec = spec
        self.store = store or default_store()
        self.manifest = command_manifest(spec, self.store)
        self.key = self.manifest.key()
        self.runs = RunRecorder(self.store, self.manifest.scope, self.key, spec.name,
                                uri_datasets(self.manifest.get("inputs", {})))
        self.job_id = self.runs.job_id

    def recorded_outputs(self, reasons: list[Reason]) -> tuple[str, dict[str, str]] | None:
        """(producing run, outputs as recorded) from the key's entry, its record verified byte for byte."""
        store = self.store
        entry = store.lookup(self.key)
        if entry is None:
            return None
        try:
            data = store.artifacts.read_verified(entry.artifact_hash, store, entry.size)
            outputs = dict(_JSON.load(data, {}, LoadContext(store.home, store.artifacts))["outputs"])
        except (ArtifactError, MaterializerError, KeyError, ValueError) as e:
            store.tombstone(self.key)
            reasons.append(Reason.damaged("outputs record", e))
            return None
        return entry.run_id, outputs

    def cached_outputs(self, reasons: list[Reason]) -> tuple[str, dict[str, str]] | None:
        """(producing run, outputs) when the entry is intact and every output still has its recorded hash."""
        recorded = self.recorded_outputs(reasons)
        if recorded is None:
            return None
        source, outputs = recorded
        for uri, digest in outputs.items():
            try:
                now: str | None = hash_uri(uri, self.store)
            except FileNotFoundError:
                now = None
            if now != digest:
                what = "is gone" if now is None else f"changed ({short(digest)} → {short(now)})"
                reasons.append(Reason.output_changed(redact_url(uri), what, source))
                return None
        return recorded

    def check(self) -> Verdict:
        """Hit (a CACHED run is recorded and the outputs returned) or miss (with the reasons)."""
        from .runtime import process_environment

        started = time.time()
        reasons: list[Reason] = []
        found = self.cached_outputs(reasons)
        if found is not None:
            source, outputs = found
            env_hash = self.store.put_environment(process_environment())
            run_id, note = self.runs.hit(source, environment_hash=env_hash, started=started)
            return Verdict(True, run_id, self.key, [note], outputs, source)
        return Verdict(False, new_run_id(), self.key, explain_miss(self.store, self.job_id, self.manifest, reasons))

    def begin(self, verdict: Verdict, context: dict[str, Any] | None = None) -> ExecPlan:
        """Record the RUNNING run of a miss and return the plan the container executes."""
        ctx = {**current_run_context(), **(context or {})}
        self.runs.begin(verdict.run_id, verdict.reasons, context=ctx)
        return ExecPlan(run_id=verdict.run_id, key=self.key, job=self.spec.name, namespace=self.manifest.scope,
                        manifest=self.manifest.to_dict(), outputs=list(self.spec.outputs),
                        reasons=[str(r) for r in verdict.reasons], context=ctx)


def complete(store: CacheStore, plan: ExecPlan, result: CommandResult, *, emit: bool = False) -> bool:
    """Register a command's result: the container's environment, the outputs as the cache entry (only
    for a successful run that reported every declared output) and the run's end. Idempotent; returns
    True when this call finished the run. ``emit``: send the run's end from the store (when nobody else
    does: a container under an orchestrator sends its own events, from the plan)."""
    if result.run_id != plan.run_id or result.key != plan.key:
        raise ConfigError(f"result of run {result.run_id} does not belong to plan {plan.run_id}")
    try:
        run = store.get_run(plan.run_id)
    except RunNotFoundError:  # the container reached the store before (or without) the orchestrator
        run = None
    if run is not None and run["ended_at"] is not None:
        return False
    env_hash = store.put_environment(EnvironmentSnapshot.from_dict(result.environment)) if result.environment else None
    runs = RunRecorder(store, plan.namespace, plan.key, plan.job,
                       uri_datasets(plan.manifest.get("inputs") or {}))
    if run is None:
        runs.begin(plan.run_id, plan.reasons, environment_hash=env_hash, context=plan.context,
                   started=result.started_at, emit=False)
    status, error = RunStatus(result.status), result.error
    missing = sorted(set(plan.outputs) - set(result.outputs))
    if status is RunStatus.COMPLETED and missing:
        status, error = RunStatus.FAILED, f"declared outputs were not written: {', '.join(missing)}"
    if status is RunStatus.COMPLETED:
        tmp = store.artifacts.new_temp_path()
        meta = _JSON.save({"outputs": dict(sorted(result.outputs.items()))}, tmp, SaveContext(store.artifacts))
        record = store.artifacts.publish(tmp)
        store.put_entry(plan.key, runs.job_id, plan.manifest, plan.run_id, record, _JSON.id, meta, None)
    runs.finish(plan.run_id, status, error=error, environment_hash=env_hash, emit=emit,
                outputs=uri_datasets(result.outputs))
    return True


def uri_datasets(hashes: Mapping[str, str]) -> tuple[RunDataset, ...]:
    """A command's declared inputs or outputs (URI -> content hash) as datasets: by name, versioned by content."""
    return tuple(RunDataset(redact_url(u) if "://" in u else os.path.abspath(u), h) for u, h in hashes.items())


def read_plan(environ: Mapping[str, str] | None = None) -> ExecPlan | None:
    raw = (environ if environ is not None else os.environ).get(PLAN_ENV)
    if not raw:
        return None
    try:
        return ExecPlan.model_validate_json(raw)
    except ValueError as e:
        raise ConfigError(f"{PLAN_ENV} is not a valid execution plan: {e}") from None
