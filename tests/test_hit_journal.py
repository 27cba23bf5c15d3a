"""A hit's CACHED run is committed a moment later with the other hits' (store/hit_journal.py): every path by which
a process reads, forks or exits still finds every hit it made recorded, and a row the database refuses loses only
itself."""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lineage_core import cached, runtime
from lineage_core.store import Store, hit_journal
from lineage_core.store.fast_sqlite import FastSqliteStore


def _store_url(home: Path) -> str:
    return f"sqlite:///{home / 'lineage.db'}"


def _cached_runs(home: Path, job_suffix: str = "") -> list[dict[str, object]]:
    """What another store object (the CLI's, a test's) reads: a fresh SQL store on the same database."""
    store = Store.from_url(_store_url(home), (home / "artifacts").as_uri())
    try:
        return [r for r in store.runs(limit=10_000) if r["status"] == "CACHED" and str(r["job"]).endswith(job_suffix)]
    finally:
        store.close()


@cached
def double(x: int) -> int:
    return 2 * x


def test_a_process_reads_its_own_hits_through_any_store(lineage_home: Path) -> None:
    double(21)
    for _ in range(5):
        assert double(21) == 42
    assert isinstance(runtime.default_store(), FastSqliteStore)
    assert len(_cached_runs(lineage_home, "double")) == 5  # no wait: the read committed them first


def test_a_run_summary_finds_a_hit_still_waiting_in_the_journal(lineage_home: Path) -> None:
    from lineage_core import explain

    double(4)
    double(4)
    hit = explain(double)
    assert hit.hit
    store = runtime.default_store()
    assert isinstance(store, FastSqliteStore)
    job, _ = store.run_summary(hit.source_run_id)  # the source run: on disk already, read without a commit
    assert job.endswith("double") and store.run_summary(hit.run_id)[0] == job  # the waiting hit: committed, found


def test_the_journal_commits_on_its_own(lineage_home: Path) -> None:
    double(1)
    double(1)
    store = runtime.default_store()
    assert isinstance(store, FastSqliteStore)
    db = str(lineage_home / "lineage.db")
    deadline = time.monotonic() + 30
    count = 0
    while time.monotonic() < deadline:  # read with plain sqlite3 (no store of this process, so no flush)
        count = int(subprocess.run(
            [sys.executable, "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("
             "\"SELECT count(*) FROM runs WHERE status='CACHED'\").fetchone()[0])", db],
            capture_output=True, text=True, check=True).stdout)
        if count:
            break
    assert count == 1


_HITS = textwrap.dedent("""
    import os, sys
    from lineage_core import cached

    @cached
    def triple(x: int) -> int:
        return 3 * x

    triple(1)
    for _ in range(int(sys.argv[1])):
        triple(1)
    if sys.argv[2] == "os._exit":
        os._exit(0)
""")


def test_an_exiting_process_commits_its_hits(lineage_home: Path, tmp_path: Path) -> None:
    script = tmp_path / "hits.py"
    script.write_text(_HITS)
    subprocess.run([sys.executable, str(script), "300", "exit"], check=True, env=os.environ.copy())
    assert len(_cached_runs(lineage_home, "triple")) == 300


def _worker(n: int) -> None:
    for _ in range(n):
        double(5)


def test_a_forked_worker_commits_its_hits_and_inherits_none(lineage_home: Path) -> None:
    double(5)
    double(5)  # one waiting row in the parent when it forks: written once, by the parent
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_worker, args=(40,)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    assert len(_cached_runs(lineage_home, "double")) == 1 + 3 * 40


def test_a_refused_row_loses_only_itself(lineage_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    double(7)
    double(7)
    store = runtime.default_store()
    assert isinstance(store, FastSqliteStore)
    good = _cached_runs(lineage_home, "double")[0]
    now = time.time()
    common = {"status": "CACHED", "cache_key": good["cache_key"], "source_run_id": good["source_run_id"],
              "environment_hash": None, "started_at": now, "ended_at": now, "reasons": ["hit"], "context": {}}
    store.insert_run(id="run-refused", job_id=999_999, **common)  # no such job: the foreign key refuses it
    store.insert_run(id="run-kept", job_id=good["job_id"], **common)
    with caplog.at_level(logging.WARNING, logger="lineage_core.store.fast_sqlite"):
        hit_journal.flush_all()
    ids = {r["id"] for r in _cached_runs(lineage_home)}
    assert "run-kept" in ids and "run-refused" not in ids
    assert "not written" in caplog.text


def test_a_reader_waits_for_a_commit_in_flight() -> None:
    """flush_all (what every read of this process runs first) returns only once a commit the journal's thread has
    in flight is done: it used to skip a journal whose rows that thread had just taken, so a hit's OpenLineage event
    could be built before its run was in the database."""
    import threading

    started, release, written = threading.Event(), threading.Event(), []

    def write(rows: list[object]) -> None:
        started.set()
        release.wait(10)
        written.extend(rows)

    journal = hit_journal.HitJournal(write)
    try:
        journal.add("row")  # the committing thread takes it within DELAY and blocks in write
        assert started.wait(10)
        done = threading.Event()
        reader = threading.Thread(target=lambda: (hit_journal.flush_all(), done.set()))
        reader.start()
        assert not done.wait(0.3)  # the reader waits while the commit is in flight
        release.set()
        assert done.wait(10) and written == ["row"]
        reader.join()
    finally:
        release.set()
        journal.close()


def test_a_write_that_reads_does_not_wait_for_another_journals_write() -> None:
    """A refused batch is written row by row through the SQL store, whose connect runs flush_all: inside a write it
    returns at once, so two journals writing at once in two threads cannot wait for each other."""
    import threading

    both = threading.Barrier(2, timeout=10)
    finished: list[str] = []

    def writer(name: str) -> Callable[[list[object]], None]:
        def write(rows: list[object]) -> None:
            both.wait()  # each is inside its write while the other is
            hit_journal.flush_all()  # what the SQL store's connect runs
            finished.append(name)
        return write

    first, second = hit_journal.HitJournal(writer("first")), hit_journal.HitJournal(writer("second"))
    first._rows.append("a")
    second._rows.append("b")
    threads = [threading.Thread(target=j.flush, daemon=True) for j in (first, second)]  # a deadlock fails, not hangs
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    with hit_journal._registry_lock:  # not close(): it would wait for a write that never ends
        hit_journal._journals.difference_update({first, second})
    assert sorted(finished) == ["first", "second"]
