"""A hit's CACHED run row, committed a moment later with the other hits' rows: the cheapest durable write for it.

Why: a warm hit is one lookup, one verified read and one CACHED run row. Committing that row was the largest part of
a hit (an implicit transaction per hit: the write lock, the WAL frames of the table and its indexes, the periodic
checkpoint), yet nothing in the hit needs the row on disk before the value is returned. So the embedded store's
hit path (:mod:`.fast_sqlite`) hands the row to a :class:`HitJournal` as it is (a new dict per hit, its context a new
dict too, which nobody changes afterwards: the row is encoded when it is committed, not on the hit's thread), and the
journal commits the rows it holds together:

- within :data:`DELAY` of the first one, from a daemon thread, or at once when :data:`MAX_ROWS` are waiting;
- before this process reads through any store it opened (:func:`flush_all`: the fast path's run reads and
  everything it defers, and every connection a SQL store of this process takes), so a process always reads its
  own hits, whichever store object it asks;
- before this process forks (the child starts with none of them), when the store is closed, and at exit (atexit,
  and multiprocessing's exit finalizers, which a forked worker runs instead of atexit).

What this trades: the rows of the last :data:`DELAY` (a tenth of a second) of hits of a process killed without
exiting (SIGKILL, or an ``os._exit`` that runs no exit handler; Airflow's task runner runs the ones registered after
its fork, which is when these are). The values served are unaffected (each was verified before it was returned);
what would be lost is the record that it was served. Another process sees a hit's run at most :data:`DELAY` later.
"""

from __future__ import annotations

import _thread
import atexit
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import forks

# Seconds from a journal's first waiting row to its commit. Not shorter: each wake of the committing thread costs
# every thread of the process (the interpreter lock changes hands, and the commit makes the hit path's connection
# re-read its pages): at 10 ms a LangChain lookup measured 150 µs, at 100 ms 105 µs (bench/llm_cache.py, 2 cores).
DELAY = 0.1
MAX_ROWS = 256  # rows that make a journal commit at once

log = logging.getLogger(__name__)


class HitJournal:
    """The rows waiting for one store, and how to commit them (``write``: all in one transaction, or raise)."""

    def __init__(self, write: Callable[[list[Any]], None]) -> None:
        self._write = write
        self._rows: list[Any] = []
        self._lock = threading.Lock()  # guards _rows
        self._flushing = threading.RLock()  # held while rows are taken and written: a flush returns once they are
        with _registry_lock:
            _journals.add(self)

    def add(self, row: Any) -> None:
        with self._lock:
            self._rows.append(row)
            waiting = len(self._rows)
        if waiting == 1:
            _wake()
        elif waiting >= MAX_ROWS:
            self.flush()

    def flush(self) -> None:
        """Commit what is waiting, and return only once a commit another thread has in flight is done too; a failure
        is logged, not raised: the reader or hit that triggered it has its own work, and ``write`` has already kept
        every row the database would take."""
        with self._flushing:
            with self._lock:
                rows, self._rows = self._rows, []
            if rows:
                _writing.active = True
                try:
                    self._write(rows)
                except Exception as e:  # noqa: BLE001 - a background commit has no caller to raise to
                    log.warning("%d cached run record(s) could not be written: %s", len(rows), e)
                finally:
                    _writing.active = False

    def close(self) -> None:
        self.flush()
        with _registry_lock:
            _journals.discard(self)

    def _after_fork(self) -> None:
        self._rows, self._lock, self._flushing = [], threading.Lock(), threading.RLock()


_journals: set[HitJournal] = set()
_registry_lock = threading.Lock()
_writing = threading.local()  # .active: this thread is inside a journal's write
_wakeup = threading.Event()
_flusher_in = -1  # the fork generation whose committing thread runs (none crosses a fork)
_exit_hooks_in = -1  # the fork generation that registered the exit hooks (a forked child registers its own)


def flush_all() -> None:
    """Commit every journal's waiting rows, and wait for the commits other threads have in flight (before a read, a
    fork, an exit): a reader sees every hit this process recorded before it read. Skipping a journal whose rows the
    committing thread had just taken let an OpenLineage event of a hit be built before its run was committed. Inside
    a journal's own write (a refused batch goes row by row through the SQL store, whose connect calls this) it
    returns at once, so no write waits for another journal's."""
    if not _journals or getattr(_writing, "active", False):
        return
    with _registry_lock:
        journals = list(_journals)
    for journal in journals:
        journal.flush()


def _wake() -> None:
    global _flusher_in, _exit_hooks_in
    if _exit_hooks_in != forks.generation:
        _exit_hooks_in = forks.generation
        atexit.register(flush_all)
        mp = sys.modules.get("multiprocessing")
        # A multiprocessing worker exits through its finalizers, not atexit. Only a worker: a process that merely
        # has multiprocessing loaded (an Airflow task) would import multiprocessing.util for nothing (~1 ms).
        if mp is not None and mp.parent_process() is not None:
            from multiprocessing import util

            util.Finalize(None, flush_all, exitpriority=10)
    if _flusher_in != forks.generation:
        with _registry_lock:
            if _flusher_in != forks.generation:
                _flusher_in = forks.generation
                # A bare thread, not threading.Thread: its start() waits until the new thread runs, which on a
                # process's first hit cost 0.3-1.2 ms (the interpreter lock changing hands); nothing waits for this
                # one. It never returns (flush_all raises nothing) and, like a daemon thread, does not hold up exit.
                _thread.start_new_thread(_flusher, ())
    _wakeup.set()


def _flusher() -> None:
    while True:
        _wakeup.wait()
        time.sleep(DELAY)
        _wakeup.clear()
        flush_all()


def _in_child() -> None:
    global _registry_lock, _wakeup
    _registry_lock, _wakeup = threading.Lock(), threading.Event()
    for journal in _journals:
        journal._after_fork()


os.register_at_fork(before=flush_all, after_in_child=_in_child)  # flush never raises
