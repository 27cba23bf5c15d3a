"""Single-flight: when many workers (threads, processes, hosts sharing a store) miss the same key at
once, exactly one computes and the others wait for its result.

The leader holds a lease row in the metadata store, renewed by a heartbeat thread; a leader that dies
(even by kill -9) stops renewing, its lease expires after ``ttl`` seconds and a waiter takes over. A
waiter that has waited longer than its bound raises :class:`SingleFlightTimeout` naming the holder.
Waiting is polling with capped backoff, because it has to work on every backend and across hosts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import settings
from .errors import SingleFlightTimeout

if TYPE_CHECKING:
    from .store import CacheStore

log = logging.getLogger("lineage_core")
MISS: Any = object()  # what a poll returns when there is still no entry


def lease_ttl() -> float:
    """Seconds a lease lives without a heartbeat (``LINEAGE_LEASE_TTL``, default 30)."""
    return settings.lease_ttl()


def wait_timeout() -> float:
    """Seconds a waiter waits for the leader (``LINEAGE_WAIT_TIMEOUT``, default 3600)."""
    return settings.wait_timeout()


class Lease:
    """The right to compute ``key``; renewed in the background until released. (A plain class: it holds a thread
    and state, and a fresh process's hit path, which imports this module, need not build a dataclass.)"""

    def __init__(self, store: CacheStore, key: str, owner: str, ttl: float, took_over: str | None = None) -> None:
        self.store, self.key, self.owner, self.ttl = store, key, owner, ttl
        self.took_over = took_over  # the run whose expired lease we took
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name=f"lineage-lease-{self.key[7:15]}", daemon=True)
        self.lost = False

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                if not self.store.renew(self.key, self.owner, self.ttl):
                    self.lost = True
                    log.warning("lease on %s was taken over while computing (stalled longer than %gs)",
                                self.key[:20], self.ttl)
                    return
            except Exception as e:  # noqa: BLE001 - a failed renewal is retried at the next beat
                log.warning("could not renew lease on %s: %s", self.key[:20], e)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.store.release(self.key, self.owner)


def lead_or_wait(
    store: CacheStore, key: str, owner: str, poll: Callable[[], Any], step: str,
    ttl: float | None = None, timeout: float | None = None,
) -> Lease | tuple[Any]:
    """Become the leader for ``key`` (returns a :class:`Lease`, not yet entered) or wait until the
    leader's result is stored and return ``(value,)`` from ``poll()``."""
    ttl = ttl or lease_ttl()
    timeout = timeout or wait_timeout()
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        acquired, previous = store.try_acquire(key, owner, ttl)
        if acquired:
            value = poll()  # the previous leader may have finished between our lookup and now
            if value is not MISS:
                store.release(key, owner)
                return (value,)
            return Lease(store, key, owner, ttl, previous)
        value = poll()
        if value is not MISS:
            return (value,)
        if time.monotonic() > deadline:
            holder = store.lease(key)
            raise SingleFlightTimeout(step, key, holder[0] if holder else None, timeout)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
