"""The SQL Store beyond the CacheStore contract (that is tests/test_store_contract.py, on every backend):
opening and migrating, and what only the database store offers (listings, invalidation), on SQLite and
PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_core.errors import ConfigError
from lineage_core.store import Store
from lineage_core.store.metadata import HEAD_REVISION

from .contracts.cache_store import insert_run, new_key, put_entry


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[Store]:
    s = Store.from_url(backend, (tmp_path / "art").as_uri())
    yield s
    s.close()


@pytest.mark.slow
def test_concurrent_processes_open_a_fresh_store(backend: str) -> None:
    code = f"from lineage_core.store import Store; s = Store.from_url({backend!r}); print(s.job_id('ns', 'j'))"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    assert {o[0].strip() for o in outs} == {"1"}
    assert Store.from_url(backend).current_revision() == HEAD_REVISION


def test_a_fresh_store_is_migrated_on_open(store: Store) -> None:
    assert store.current_revision() == HEAD_REVISION


@pytest.mark.parametrize(("url", "message"), [
    ("http://lineage:5000", "is a lineage server"),
    ("not a url", "invalid store URL"),
    ("nosuchdialect://x/y", "cannot open store"),
])
def test_urls_that_are_not_a_database_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Store.from_url(url)


def test_invalidate_by_key_prefix_or_by_job(store: Store) -> None:
    a, b = store.job_id("ns", "a"), store.job_id("ns", "b")
    keys = [new_key() for _ in range(3)]
    put_entry(store, a, keys[0])
    put_entry(store, a, keys[1])
    put_entry(store, b, keys[2])
    assert store.invalidate(key=keys[0][:20]) == 1
    assert store.lookup(keys[0]) is None and store.lookup(keys[1]) is not None
    assert store.invalidate(job="a") == 1  # the one still live
    assert store.lookup(keys[1]) is None and store.lookup(keys[2]) is not None
    assert store.invalidate(job="a") == 0


def test_listings_are_newest_first_and_filter_by_job(store: Store) -> None:
    a, b = store.job_id("ns", "a"), store.job_id("ns", "b")
    first = insert_run(store, a, "COMPLETED", started_at=1.0)
    second = insert_run(store, a, "CACHED", started_at=2.0)
    insert_run(store, b, "COMPLETED", started_at=3.0)
    assert [r["id"] for r in store.runs(job="a")] == [second, first]
    assert len(store.runs(limit=2)) == 2 and store.runs()[0]["job"] == "b"
    old, new = new_key(), new_key()
    put_entry(store, a, old)
    put_entry(store, b, new)
    assert [e["key"] for e in store.entries()] == [new, old]
    assert [e["key"] for e in store.entries(job="a")] == [old]
