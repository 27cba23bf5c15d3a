"""``lineage exec -- CMD…``: run a command as a recorded, cached step, typically as a container's entrypoint.

Inside a pod launched by an orchestrator on a cache miss, the orchestrator's :class:`ExecPlan` arrives
in ``LINEAGE_EXEC``: the run is already decided and recorded, so the command runs, the container's
environment (image digest, GPU, CUDA, packages) is captured where it actually is, the declared outputs
are hashed, and a :class:`CommandResult` is written to the result file (``LINEAGE_EXEC_RESULT``, e.g. the
KubernetesPodOperator XCom file). When the pod can reach the store (``LINEAGE_STORE_URL``) it registers
the result itself; when OpenLineage is configured (``OPENLINEAGE_URL`` = the lineage server, with the
token in ``OPENLINEAGE_API_KEY``) it sends the run's events, a child of the orchestrator's task.

Without a plan (run by hand or by any scheduler) it is a cached command on its own: the key is checked
first and a hit does not run the command at all.

The exit status is the command's; a command that succeeded but did not write a declared output fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .commands import CommandResult, CommandSpec, CommandStep, ExecPlan, complete, read_plan
from .environment import capture_environment
from .hashing.remote import hash_uri
from .openlineage import emitter
from .redact import redact_url
from .runs import EventType, Phase, RunStatus
from .settings import PLAN_ENV, RESULT_ENV, Settings

if TYPE_CHECKING:
    from .store import CacheStore


def _run(argv: Sequence[str]) -> int:
    """Run the command with our stdio; a SIGTERM/SIGINT for us (pod deletion) is passed on to it."""
    try:
        proc = subprocess.Popen(list(argv))
    except OSError as e:
        print(f"lineage exec: cannot start {argv[0]!r}: {e.strerror}", file=sys.stderr)
        return 127
    previous = {s: signal.signal(s, lambda signum, _frame: proc.send_signal(signum))
                for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def hash_outputs(uris: Sequence[str], store: CacheStore | None) -> tuple[dict[str, str], list[str]]:
    """(URI -> content hash of each output that exists, the ones that do not)."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for uri in uris:
        try:
            found[uri] = hash_uri(uri, store)
        except FileNotFoundError:
            missing.append(redact_url(uri))
    return found, missing


def write_result(result: CommandResult, path: str) -> None:
    """Atomically: a reader (the XCom sidecar, the operator) never sees half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(result.model_dump_json())
    os.replace(tmp, target)


def _events(plan: ExecPlan, result: CommandResult, phase: Phase) -> list[Any]:
    from .openlineage.events import DatasetRef, RunRecord, build_event

    manifest = plan.manifest
    common: dict[str, Any] = {
        "run_id": plan.run_id, "namespace": plan.namespace, "job": plan.job, "key": plan.key,
        "manifest": manifest, "reasons": plan.reasons, "environment": result.environment,
        "inputs": [DatasetRef(uri, digest) for uri, digest in (manifest.get("inputs") or {}).items()],
        "context": {**plan.context, "orchestrator": plan.context.get("orchestrator", "kubernetes")},
    }
    if phase is Phase.START:
        return [build_event(RunRecord(event_type=EventType.START, time=result.started_at, **common))]
    terminal = RunStatus(result.status).event_type
    outputs = [DatasetRef(u, d) for u, d in result.outputs.items()] if terminal is EventType.COMPLETE else []
    return [build_event(RunRecord(event_type=terminal, time=result.ended_at, outputs=outputs, error=result.error,
                                  **common))]


def exec_command(argv: Sequence[str], *, name: str | None = None, inputs: Sequence[str] = (),
                 outputs: Sequence[str] = (), result_path: str | None = None) -> int:
    """Run ``argv`` under the plan in ``LINEAGE_EXEC`` (or as a cached command on its own); returns the exit
    status to exit with."""
    from .runtime import default_store

    plan = read_plan()
    store: CacheStore | None = None
    current = Settings.current()
    result_path = result_path or os.environ.get(RESULT_ENV)  # the orchestrator's hand-over, not a setting
    if plan is None:  # on its own: we decide hit or miss here
        store = default_store()
        spec = CommandSpec(name=name or Path(argv[0]).name, command=tuple(argv), inputs=tuple(inputs),
                           outputs=tuple(outputs), image=current.image_digest)
        step = CommandStep(spec, store)
        verdict = step.check()
        if verdict.hit:
            now = time.time()
            print(f"lineage exec: {verdict.reasons[0]}; not running {argv[0]}", file=sys.stderr)
            if result_path:
                write_result(CommandResult(run_id=verdict.run_id, key=verdict.key, job=spec.name,
                                           namespace=step.manifest.scope, status=RunStatus.CACHED.value, exit_code=0,
                                           outputs=verdict.outputs, started_at=now, ended_at=now,
                                           source_run_id=verdict.source_run_id), result_path)
            return 0
        print(f"lineage exec: cache miss: {'; '.join(verdict.reasons)}", file=sys.stderr)
        plan = step.begin(verdict, {"orchestrator": "lineage-exec"})
    elif current.store_url:
        store = default_store()
    send = plan.context.get("orchestrator") != "lineage-exec" and emitter.configured()

    started = time.time()
    environment = capture_environment(os.getcwd()).to_dict()
    pending = CommandResult(run_id=plan.run_id, key=plan.key, job=plan.job, namespace=plan.namespace,
                            status=RunStatus.COMPLETED.value, exit_code=0, environment=environment, started_at=started,
                            ended_at=started)
    if send:
        for event in _events(plan, pending, Phase.START):
            emitter.emitter().send(event)
    code = _run(argv)
    found, missing = hash_outputs(plan.outputs, store) if code == 0 else ({}, [])
    error = None
    if code != 0:
        error = f"{argv[0]} exited with status {code}" if code > 0 else f"{argv[0]} was killed by signal {-code}"
    elif missing:
        error = f"{argv[0]} succeeded but did not write declared outputs: {', '.join(missing)}"
        print(f"lineage exec: {error}", file=sys.stderr)
        code = 1
    result = pending.model_copy(update={
        "status": (RunStatus.COMPLETED if error is None else RunStatus.FAILED).value, "exit_code": code,
        "outputs": found,
        "ended_at": time.time(), "error": error,
    })
    if result_path:
        write_result(result, result_path)
    if store is not None:  # on its own (no orchestrator), the store's record is the one event source
        complete(store, plan, result, emit=plan.context.get("orchestrator") == "lineage-exec")
    if send:
        for event in _events(plan, result, Phase.END):
            emitter.emitter().send(event)
    return code


def plan_env(plan: ExecPlan, result_path: str | None = None) -> dict[str, str]:
    """The environment variables that hand ``plan`` to ``lineage exec`` in a container."""
    env = {PLAN_ENV: plan.model_dump_json()}
    if result_path:
        env[RESULT_ENV] = result_path
    return env


def result_from_json(data: str | bytes | dict[str, Any]) -> CommandResult:
    """Parse a result file's content (as an XCom carries it: already JSON-decoded, or raw)."""
    if isinstance(data, dict):
        return CommandResult.model_validate(data)
    return CommandResult.model_validate(json.loads(data))
