"""The metadata store contract: one suite, every backend (SQLite file, PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lineage_core.errors import RunNotFoundError
from lineage_core.hashing import StatKey, hash_directory
from lineage_core.store import Store
from lineage_core.store.metadata import HEAD_REVISION


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Store:
    return Store.from_url(backend, (tmp_path / "art").as_uri())


def test_concurrent_processes_open_a_fresh_store(backend: str) -> None:
    code = f"from lineage_core.store import Store; s = Store.from_url({backend!r}); print(s.job_id('ns', 'j'))"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    assert {o[0].strip() for o in outs} == {"1"}
    assert Store.from_url(backend).current_revision() == HEAD_REVISION


def test_stat_cache_is_batched_upserted_and_survives_reopen(backend: str, tmp_path: Path, store: Store) -> None:
    rows = [(f"/p/{i}", StatKey(i, i, i), f"blake3:{i:064x}") for i in range(2500)]
    store.put_many(rows)
    store.put_many([(p, StatKey(0, 0, 0), h) for p, _, h in rows[:10]])  # upsert, no IntegrityError
    again = Store.from_url(backend, (tmp_path / "art").as_uri())
    got = again.get_many([r[0] for r in rows])
    assert len(got) == 2500 and got["/p/7"] == (StatKey(0, 0, 0), f"blake3:{7:064x}")
    assert got["/p/70"] == (StatKey(70, 70, 70), f"blake3:{70:064x}")
    assert set(again.get_under("/p")) == {r[0] for r in rows}
    assert again.get_under("/p/1") == {}  # a prefix of names is not a directory


def test_directory_recheck_uses_stat_cache(tmp_path: Path, store: Store) -> None:
    d = tmp_path / "tree"
    d.mkdir()
    for i in range(50):
        (d / f"f{i}.txt").write_text(str(i))
    first = hash_directory(d, store)
    assert len(store.get_under(str(d))) == 50
    assert hash_directory(d, store) == first
    (d / "f3.txt").write_text("changed")
    assert hash_directory(d, store) != first


def test_runs_by_id_prefix_and_unknown(store: Store) -> None:
    jid = store.job_id("ns", "job")
    store.insert_run(id="01aaaaaa-0000-7000-8000-000000000001", job_id=jid, status="COMPLETED", started_at=1.0,
                     reasons=["r"], context={"orchestrator": "python"})
    run = store.get_run("01aaaaaa-0000")
    assert run["job"] == "job" and run["reasons"] == ["r"] and run["context"] == {"orchestrator": "python"}
    with pytest.raises(RunNotFoundError):
        store.get_run("ffffffff")
    with pytest.raises(RunNotFoundError, match="too short"):
        store.get_run("01a")


def test_job_ids_are_idempotent(store: Store) -> None:
    assert store.job_id("a", "b") == store.job_id("a", "b") != store.job_id("a", "c")


def test_artifact_writes_are_atomic_and_verified(tmp_path: Path, store: Store) -> None:
    tmp = store.artifacts.new_temp_path()
    Path(tmp).write_bytes(b"payload")
    rec = store.artifacts.publish(tmp)
    assert not Path(tmp).exists() and store.artifacts.read_verified(rec.hash) == b"payload"
    assert list((tmp_path / "art" / "tmp").iterdir()) == []
