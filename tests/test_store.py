from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lineage_core.hashing import StatKey, hash_directory
from lineage_core.store import Store
from lineage_core.store.metadata import HEAD_REVISION


def test_concurrent_processes_open_a_fresh_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    code = f"from lineage_core.store import Store; s = Store.from_url({url!r}); print(s.job_id('ns', 'j'))"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(6)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert set(outs) == {"1"}
    assert Store.from_url(url).current_revision() == HEAD_REVISION


def test_stat_cache_is_batched_and_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    store = Store.from_url(url, (tmp_path / "art").as_uri())
    rows = [(f"/p/{i}", StatKey(i, i, i), f"blake3:{i:064x}") for i in range(2500)]
    store.put_many(rows)
    store.put_many(rows[:10])  # upsert, no IntegrityError
    again = Store.from_url(url, (tmp_path / "art").as_uri())
    got = again.get_many([r[0] for r in rows])
    assert len(got) == 2500 and got["/p/7"] == (StatKey(7, 7, 7), f"blake3:{7:064x}")


def test_directory_recheck_uses_stat_cache(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path}/s.db", (tmp_path / "art").as_uri())
    d = tmp_path / "tree"
    d.mkdir()
    for i in range(50):
        (d / f"f{i}.txt").write_text(str(i))
    first = hash_directory(d, store)
    assert len(store.get_many([str(d / f"f{i}.txt") for i in range(50)])) == 50
    assert hash_directory(d, store) == first
    (d / "f3.txt").write_text("changed")
    assert hash_directory(d, store) != first


def test_artifact_writes_are_atomic_and_verified(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path}/s.db", (tmp_path / "art").as_uri())
    tmp = store.artifacts.new_temp_path()
    Path(tmp).write_bytes(b"payload")
    rec = store.artifacts.publish(tmp)
    assert not Path(tmp).exists() and store.artifacts.read_verified(rec.hash) == b"payload"
    assert list((tmp_path / "art" / "tmp").iterdir()) == []
