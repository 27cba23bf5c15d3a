"""Send our runs' OpenLineage events to the backend the standard client configuration names.

Active only when OpenLineage is configured the usual way (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``,
an ``openlineage.yml``, or ``OPENLINEAGE__TRANSPORT__*``) and not disabled (``OPENLINEAGE_DISABLED``):
otherwise nothing runs and the hit path pays nothing. Our own store always has the runs, from which
the events are (re)built at any time.

Emission never fails or slows the user's step: runs are queued (microseconds) and a daemon thread
builds the events from the store and sends them. A send that fails after the transport's retries is
appended to a bounded spool file; ``lineage events flush`` sends it later. At exit the queue is drained
for a few seconds at most.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import settings
from ..status import EventType, Phase

if TYPE_CHECKING:
    from ..store import CacheStore

log = logging.getLogger("lineage_core")


def configured() -> bool:
    """True when the standard OpenLineage client configuration names a transport (the client's own variables
    and files, read the way it reads them: they are its configuration, not ours)."""
    env = os.environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OPENLINEAGE_URL") or env.get("OPENLINEAGE_CONFIG"):
        return True
    if any(k.startswith("OPENLINEAGE__TRANSPORT") for k in env):
        return True
    return any(p.is_file() for p in (Path.cwd() / "openlineage.yml", Path.home() / ".openlineage" / "openlineage.yml"))


def spool_path() -> Path:
    return settings.lineage_home() / "spool" / "openlineage.jsonl"


class Emitter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[CacheStore, str, Phase, settings.Settings | None] | None] = (
            queue.SimpleQueue())
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._client: Any = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def submit(self, store: CacheStore, run_id: str, phase: Phase) -> None:
        """Queue the run's START (``Phase.START``), its terminal event (``Phase.END``) or both (``Phase.ALL``)."""
        with self._lock:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="lineage-openlineage", daemon=True)
                self._thread.start()
                atexit.register(self.close)
        self._queue.put((store, run_id, phase, settings.active()))  # the caller's settings.use(), if any

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            store, run_id, phase, current = item
            try:
                with settings.use(current) if current is not None else contextlib.nullcontext():
                    self._emit_run(store, run_id, phase)
            except Exception as e:  # noqa: BLE001 - lineage never fails the user's step
                log.warning("could not build OpenLineage events for run %s: %s", run_id, e)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._idle.notify_all()

    def _emit_run(self, store: CacheStore, run_id: str, phase: Phase) -> None:
        from .events import build_event
        from .records import run_records

        for record in run_records(store, run_id):
            started = record.event_type == EventType.START
            if phase is Phase.ALL or (phase is Phase.START) == started:
                self.send(build_event(record))

    def client(self) -> Any:
        if self._client is None:
            from openlineage.client import OpenLineageClient

            self._client = OpenLineageClient()
        return self._client

    def send(self, event: Any) -> bool:
        """Emit one event (an openlineage-python event or a dict); spool it when the backend fails."""
        try:
            client = self.client()
            if isinstance(event, dict):  # a spooled event: the transport sends JSON-able data as is
                client.transport.emit(event)
            else:
                client.emit(event)
            return True
        except Exception as e:  # noqa: BLE001 - a down backend is spooled, never raised
            log.warning("OpenLineage backend unavailable (%s); event spooled to %s", e, spool_path())
            _spool(event)
            return False

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is sent or spooled."""
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self.flush(timeout=5.0)


def _spool(event: Any) -> None:
    from openlineage.client.serde import Serde

    path = spool_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(Serde.to_dict(event), sort_keys=True) + "\n"
    limit = settings.Settings.current().spool_max_bytes
    if path.exists() and path.stat().st_size + len(line) > limit:
        log.warning("OpenLineage spool %s is full (%d bytes): event dropped", path, limit)
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)


def flush_spool() -> tuple[int, int]:
    """Send the spooled events again; returns (sent, still spooled)."""
    path = spool_path()
    if not path.exists():
        return 0, 0
    work = path.with_suffix(".sending")
    os.replace(path, work)  # new failures append to a fresh spool while we send
    sent = failed = 0
    em = emitter()
    for line in work.read_text(encoding="utf-8").splitlines():
        if line.strip():
            if em.send(json.loads(line)):
                sent += 1
            else:
                failed += 1
    work.unlink()
    return sent, failed


_EMITTER: Emitter | None = None
_ENABLED: bool | None = None


def emitter() -> Emitter:
    global _EMITTER
    if _EMITTER is None:
        _EMITTER = Emitter()
    return _EMITTER


def emit_run(store: CacheStore, run_id: str, phase: Phase) -> None:
    """Called by the cache layer for every run; a no-op unless OpenLineage is configured."""
    global _ENABLED
    if _ENABLED is None:
        _ENABLED = configured()
    if _ENABLED:
        emitter().submit(store, run_id, phase)


def reset() -> None:
    """Forget the configuration decision and the client (tests, long-lived workers after a change)."""
    global _ENABLED, _EMITTER
    if _EMITTER is not None:
        _EMITTER.flush(timeout=10)
    _ENABLED, _EMITTER = None, None
