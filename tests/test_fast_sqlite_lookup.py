"""The embedded store's lookup reads an entry's row again only once the database changed (store/fast_sqlite.py keeps
the rows a thread read while SQLite's ``data_version`` holds): whoever invalidates or re-points an entry — another
process, another thread, this process's SQL store — the next lookup sees it, and nothing this thread writes on the
hit path (runs, environments, jobs) can hide a change."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from lineage_core import cached, runtime
from lineage_core.store.fast_sqlite import FastSqliteStore


@cached
def square(x: int) -> int:
    return x * x


def _entry_key(home: Path) -> str:
    square(3)
    assert square(3) == 9
    keys = [k for (k,) in sqlite3.connect(home / "lineage.db").execute(
        "SELECT key FROM cache_entries WHERE tombstoned_at IS NULL")]
    assert len(keys) == 1
    return keys[0]


def _store() -> FastSqliteStore:
    store = runtime.default_store()
    assert isinstance(store, FastSqliteStore)
    return store


def test_an_entry_another_process_tombstones_is_never_served(lineage_home: Path) -> None:
    key = _entry_key(lineage_home)
    store = _store()
    assert store.lookup(key) is not None and store.lookup(key) is not None  # the second from the kept row
    subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                    "c.execute('UPDATE cache_entries SET tombstoned_at = 1 WHERE key = ?', (sys.argv[2],)); c.commit()",
                    str(lineage_home / "lineage.db"), key], check=True)
    assert store.lookup(key) is None
    assert square(3) == 9 and store.lookup(key) is not None  # a miss: computed and stored again


def test_a_change_made_through_this_process_is_seen(lineage_home: Path) -> None:
    key = _entry_key(lineage_home)
    store = _store()
    assert store.lookup(key) is not None
    store.tombstone(key)  # the SQL store's connection
    assert store.lookup(key) is None


def test_a_re_pointed_entry_is_read_again(lineage_home: Path) -> None:
    key = _entry_key(lineage_home)
    store = _store()
    before = store.lookup(key)
    assert before is not None
    with sqlite3.connect(lineage_home / "lineage.db") as other:  # another connection, this process
        other.execute("UPDATE cache_entries SET run_id = 'run-elsewhere' WHERE key = ?", (key,))
    after = store.lookup(key)
    assert after is not None and after.run_id == "run-elsewhere" and before.run_id != "run-elsewhere"


def test_hits_written_on_this_thread_do_not_hide_a_change(lineage_home: Path) -> None:
    key = _entry_key(lineage_home)
    store = _store()
    for _ in range(3):
        assert square(3) == 9  # CACHED runs, environments: written, none of them the entries
    from lineage_core.store import hit_journal

    hit_journal.flush_all()
    assert store.lookup(key) is not None
    seen: list[object] = []
    thread = threading.Thread(target=lambda: (store.tombstone(key), seen.append(store.lookup(key))))
    thread.start()
    thread.join(30)
    assert seen == [None]  # the other thread's own connection
    assert store.lookup(key) is None  # and this thread's kept row is dropped


def _lookup_in_child(key: str, out: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    out.put(_store().lookup(key) is not None)


def test_a_forked_child_reads_with_its_own_connection(lineage_home: Path) -> None:
    key = _entry_key(lineage_home)
    store = _store()
    assert store.lookup(key) is not None
    store.tombstone(key)
    ctx = multiprocessing.get_context("fork")
    out = ctx.SimpleQueue()
    child = ctx.Process(target=_lookup_in_child, args=(key, out))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and out.get() is False
