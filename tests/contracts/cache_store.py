"""The CacheStore contract (lineage_core.store.protocol): what the cache path relies on, whoever serves the store.

A backend class inherits :class:`CacheStoreContract` and provides

- ``open_store``: a callable that opens one more instance of the backend's store (another process or pod
  would see what this one sees); the contract closes every instance it opened;
- ``url_scheme`` (class attribute): how ``store.url`` starts;
- ``store_secret`` (optional fixture): a credential of the store that ``store.url`` must never show.

The tests do not depend on what else is in the store: every job, key, run id and lease is new for the test,
so a backend may share one store between tests (the lineage server does).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lineage_core.environment import EnvironmentSnapshot
from lineage_core.errors import RunNotFoundError, StoreError
from lineage_core.hashing import StatKey, hash_bytes, hash_directory
from lineage_core.hashing.remote import RemoteStat
from lineage_core.store import ArtifactRecord, ArtifactStore, CacheStore
from lineage_core.store.protocol import StoredArtifact

Opener = Callable[[], CacheStore]


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def new_key() -> str:
    """A cache key nobody has used (keys are content hashes: the server accepts nothing else)."""
    return hash_bytes(uuid.uuid4().bytes)


def new_run_id() -> str:
    return str(uuid.uuid4())  # random from the first character: any 13-character prefix is unique


def snapshot(**packages: str) -> EnvironmentSnapshot:
    return EnvironmentSnapshot(python="3.11.9", implementation="CPython", platform="linux", machine="x86_64",
                               packages={"numpy": "2.1.0", **packages}, env_vars={"TZ": "UTC"},
                               gpu={"gpus": ["NVIDIA H200"]}, git={"commit": "0" * 40, "dirty": False})


def publish_bytes(store: CacheStore, data: bytes) -> ArtifactRecord:
    """Upload a value's bytes first, as the cache path does before it writes the entry."""
    tmp = store.artifacts.new_temp_path()
    Path(tmp).write_bytes(data)
    return store.artifacts.publish(tmp)


def put_entry(store: CacheStore, job_id: int, key: str, *, manifest: dict[str, Any] | None = None,
              run_id: str | None = None, meta: dict[str, Any] | None = None, materializer: str = "bytes@1",
              value_hash: str | None = None, data: bytes | None = None) -> tuple[str, ArtifactRecord]:
    """Store a blob and an entry pointing at it; returns (run id, artifact record)."""
    run_id = run_id or new_run_id()
    record = publish_bytes(store, data if data is not None else uuid.uuid4().bytes * 8)
    store.put_entry(key, job_id, manifest if manifest is not None else {"key": key}, run_id, record,
                    materializer, meta if meta is not None else {}, value_hash)
    return run_id, record


def insert_run(store: CacheStore, job_id: int, status: str = "RUNNING", **row: Any) -> str:
    run_id = row.pop("id", None) or new_run_id()
    store.insert_run(id=run_id, job_id=job_id, status=status, started_at=row.pop("started_at", 1.0), **row)
    return run_id


class CacheStoreContract:
    url_scheme: ClassVar[str]

    @pytest.fixture
    def store_secret(self) -> str | None:
        return None

    @pytest.fixture
    def reopen(self, open_store: Opener) -> Iterator[Opener]:
        opened: list[CacheStore] = []

        def open_() -> CacheStore:
            opened.append(open_store())
            return opened[-1]

        yield open_
        for s in opened:
            s.close()

    @pytest.fixture
    def store(self, reopen: Opener) -> CacheStore:
        return reopen()

    @pytest.fixture
    def job(self, store: CacheStore) -> int:
        return store.job_id("contract", unique("job-"))

    # -- what the store is -----------------------------------------------------------------------
    def test_url_names_the_store_and_never_its_secret(self, store: CacheStore, store_secret: str | None) -> None:
        assert store.url.startswith(self.url_scheme)
        if store_secret is not None:
            assert store_secret not in store.url

    def test_it_has_an_artifact_store_and_a_scratch_home(self, store: CacheStore) -> None:
        assert isinstance(store.artifacts, ArtifactStore) and isinstance(store.home, Path)

    # -- jobs ------------------------------------------------------------------------------------
    def test_job_id_is_idempotent_per_namespace_and_name(self, store: CacheStore, reopen: Opener) -> None:
        ns, name = unique("ns-"), unique("job-")
        jid = store.job_id(ns, name)
        assert store.job_id(ns, name) == jid
        assert reopen().job_id(ns, name) == jid  # another process gets the same job
        others = {store.job_id(ns, name + "-b"), store.job_id(ns + "-b", name)}
        assert len(others) == 2 and jid not in others

    # -- environments ----------------------------------------------------------------------------
    def test_environments_round_trip_by_content_hash(self, store: CacheStore, reopen: Opener) -> None:
        env = snapshot(**{unique("pkg-"): "1.0"})
        h = store.put_environment(env)
        assert h == env.content_hash and h.startswith("blake3:")
        assert store.put_environment(EnvironmentSnapshot.from_dict(env.to_dict())) == h  # idempotent
        assert reopen().get_environment(h) == env
        other = EnvironmentSnapshot.from_dict({**env.to_dict(), "python": "3.12.4"})
        h2 = store.put_environment(other)
        assert h2 != h and store.get_environment(h2) == other and store.get_environment(h) == env

    def test_an_unknown_environment_is_none(self, store: CacheStore) -> None:
        assert store.get_environment(new_key()) is None

    # -- cache entries and key manifests ---------------------------------------------------------
    def test_lookup_of_an_unknown_key_misses(self, store: CacheStore) -> None:
        assert store.lookup(new_key()) is None

    def test_an_entry_round_trips_with_meta_materializer_and_value_hash(
        self, store: CacheStore, reopen: Opener, job: int,
    ) -> None:
        key, data = new_key(), b"value bytes " + uuid.uuid4().bytes
        meta = {"dtype": "<i8", "shape": [2, 3], "nested": {"ü": None, "ok": True}}
        run_id, record = put_entry(store, job, key, meta=meta, materializer="numpy@1",
                                   value_hash=hash_bytes(b"the value"), data=data)
        entry = reopen().lookup(key)
        assert entry is not None
        assert (entry.key, entry.run_id, entry.artifact_hash) == (key, run_id, record.hash)
        assert (entry.materializer, entry.meta, entry.value_hash) == ("numpy@1", meta, hash_bytes(b"the value"))
        assert entry.created_at > 0
        assert bytes(store.artifacts.read_verified(entry.artifact_hash)) == data

    def test_an_entry_without_value_hash_or_meta(self, store: CacheStore, job: int) -> None:
        key = new_key()
        put_entry(store, job, key)
        entry = store.lookup(key)
        assert entry is not None and entry.value_hash is None and entry.meta == {}

    def test_a_new_entry_for_a_key_replaces_the_old_one(self, store: CacheStore, job: int) -> None:
        key = new_key()
        put_entry(store, job, key)
        second, record = put_entry(store, job, key)
        entry = store.lookup(key)
        assert entry is not None and (entry.run_id, entry.artifact_hash) == (second, record.hash)

    def test_a_tombstone_makes_lookup_miss_and_keeps_the_manifest(self, store: CacheStore, job: int) -> None:
        key, manifest = new_key(), {"params": {"n": hash_bytes(b"3")}}
        put_entry(store, job, key, manifest=manifest)
        other = new_key()
        put_entry(store, job, other)
        store.tombstone(key)
        assert store.lookup(key) is None and store.lookup(other) is not None  # only that key
        assert store.manifest(key) == manifest  # a later miss can still be explained against it
        store.tombstone(new_key())  # an unknown key: nothing to do
        again, _ = put_entry(store, job, key, manifest=manifest)  # recomputed: live again
        entry = store.lookup(key)
        assert entry is not None and entry.run_id == again

    def test_a_manifest_round_trips_as_json(self, store: CacheStore, job: int) -> None:
        key = new_key()
        manifest = {"schema": 1, "step": "pipe.total", "params": {"n": hash_bytes(b"3")}, "display": {"n": "3"},
                    "env": {"python": "3.11", "packages": {"numpy": "2.1.0"}}, "salt": None, "ratio": 0.1,
                    "text": "→ ü", "list": [1, None, True]}
        put_entry(store, job, key, manifest=manifest)
        assert store.manifest(key) == manifest
        assert store.manifest(new_key()) is None

    def test_previous_manifests_are_newest_first_per_job_and_limited(self, store: CacheStore, job: int) -> None:
        manifests = [{"n": i} for i in range(3)]
        for m in manifests:
            put_entry(store, job, new_key(), manifest=m)
        other = store.job_id("contract", unique("other-"))
        put_entry(store, other, new_key(), manifest={"n": "other"})
        assert store.previous_manifests(job) == manifests[::-1]
        assert store.previous_manifests(job, limit=2) == [manifests[2], manifests[1]]
        assert store.previous_manifests(other) == [{"n": "other"}]
        assert store.previous_manifests(store.job_id("contract", unique("empty-"))) == []

    def test_artifact_meta_is_what_the_entry_recorded(self, store: CacheStore, job: int) -> None:
        meta = {"columns": ["a", "b"], "rows": 3}
        _, with_meta = put_entry(store, job, new_key(), meta=meta, materializer="pandas-parquet@1")
        _, without = put_entry(store, job, new_key())
        assert store.artifact_meta(with_meta.hash) == meta
        assert store.artifact_meta(without.hash) == {}  # known, no metadata
        assert store.artifact_meta(new_key()) is None  # unknown

    def test_stored_artifact_is_known_whatever_became_of_the_entry(self, store: CacheStore, job: int) -> None:
        key = new_key()
        _, record = put_entry(store, job, key, meta={"rows": 3}, materializer="pandas-parquet@1")
        store.tombstone(key)  # how a run's result was stored is still known: lineage_core.load reads it back
        want = StoredArtifact(record.hash, "pandas-parquet@1", {"rows": 3}, record.size)
        assert store.stored_artifact(record.hash) == want and store.stored_artifact(new_key()) is None

    def test_an_entry_for_an_unknown_job_is_refused(self, store: CacheStore) -> None:
        key = new_key()
        record = publish_bytes(store, uuid.uuid4().bytes)
        with pytest.raises(StoreError):
            store.put_entry(key, 2**31 - 7, {}, new_run_id(), record, "bytes@1", {}, None)
        assert store.lookup(key) is None

    # -- runs ------------------------------------------------------------------------------------
    def test_a_run_round_trips_with_reasons_and_context(self, store: CacheStore, reopen: Opener) -> None:
        ns, name = "contract", unique("job-")
        jid = store.job_id(ns, name)
        env = store.put_environment(snapshot(**{unique("pkg-"): "1"}))
        run_id = new_run_id()
        row = {"id": run_id, "job_id": jid, "status": "CACHED", "cache_key": new_key(),
               "source_run_id": new_run_id(), "environment_hash": env, "started_at": 1.5,
               "reasons": ["parameter 'n' changed: 1 → 2", "hit of run 0190"],
               "context": {"orchestrator": "airflow", "dag_id": "train", "try_number": 2, "map_index": None}}
        store.insert_run(**row)
        run = reopen().get_run(run_id)
        assert {k: run[k] for k in row} == row
        assert (run["job"], run["namespace"], run["ended_at"], run["error"]) == (name, ns, None, None)

    def test_a_run_is_found_by_a_unique_id_prefix(self, store: CacheStore, job: int) -> None:
        run_id = insert_run(store, job)
        assert store.get_run(run_id[:13])["id"] == run_id

    def test_an_unknown_run_is_a_typed_error(self, store: CacheStore) -> None:
        with pytest.raises(RunNotFoundError) as e:
            store.get_run(new_run_id())
        assert isinstance(e.value, LookupError) and isinstance(e.value, StoreError)
        with pytest.raises(RunNotFoundError, match="too short"):
            store.get_run("01a")

    def test_a_run_id_is_inserted_once(self, store: CacheStore, job: int) -> None:
        run_id = insert_run(store, job, "COMPLETED")
        with pytest.raises(StoreError):
            insert_run(store, job, "RUNNING", id=run_id)
        assert store.get_run(run_id)["status"] == "COMPLETED"

    def test_a_run_of_an_unknown_job_is_refused(self, store: CacheStore) -> None:
        run_id = new_run_id()
        with pytest.raises(StoreError, match="job"):
            store.insert_run(id=run_id, job_id=2**31 - 7, status="RUNNING", started_at=1.0)
        with pytest.raises(RunNotFoundError):
            store.get_run(run_id)

    def test_a_run_naming_an_unknown_environment_is_refused(self, store: CacheStore, job: int) -> None:
        run_id, unknown = new_run_id(), hash_bytes(uuid.uuid4().bytes)
        with pytest.raises(StoreError, match="environment"):
            store.insert_run(id=run_id, job_id=job, status="RUNNING", started_at=1.0, environment_hash=unknown)
        running = insert_run(store, job)
        with pytest.raises(StoreError, match="environment"):
            store.finish_run(running, status="COMPLETED", environment_hash=unknown)
        run = store.get_run(running)
        assert (run["status"], run["environment_hash"], run["ended_at"]) == ("RUNNING", None, None)

    def test_finish_run_records_the_outcome(self, store: CacheStore, job: int) -> None:
        failed = insert_run(store, job)
        store.finish_run(failed, status="FAILED", error="ValueError: boom")
        run = store.get_run(failed)
        assert (run["status"], run["error"]) == ("FAILED", "ValueError: boom") and run["ended_at"] is not None
        env = store.put_environment(snapshot(**{unique("pkg-"): "2"}))
        done = insert_run(store, job)
        store.finish_run(done, status="COMPLETED", environment_hash=env)
        run = store.get_run(done)
        assert (run["status"], run["environment_hash"], run["error"]) == ("COMPLETED", env, None)

    def test_abandon_run_aborts_only_a_running_run(self, store: CacheStore, job: int) -> None:
        running = insert_run(store, job)
        completed = insert_run(store, job, status="COMPLETED", ended_at=2.0)
        store.abandon_run(running, "its lease expired")
        store.abandon_run(completed, "its lease expired")
        run = store.get_run(running)
        assert (run["status"], run["error"]) == ("ABORTED", "its lease expired") and run["ended_at"] is not None
        run = store.get_run(completed)
        assert (run["status"], run["error"], run["ended_at"]) == ("COMPLETED", None, 2.0)

    # -- single-flight leases --------------------------------------------------------------------
    def test_a_lease_is_exclusive_until_its_holder_releases_it(self, store: CacheStore) -> None:
        key, a, b = new_key(), new_run_id(), new_run_id()
        assert store.lease(key) is None
        assert store.try_acquire(key, a, 60) == (True, None)
        assert store.try_acquire(key, b, 60) == (False, None)
        held = store.lease(key)
        assert held is not None and held[0] == a and isinstance(held[1], float)
        store.release(key, b)  # not the holder: nothing happens
        assert store.lease(key) == held
        store.release(key, a)
        assert store.lease(key) is None
        assert store.try_acquire(key, b, 60) == (True, None)

    def test_only_the_holder_renews(self, store: CacheStore) -> None:
        key, a, b = new_key(), new_run_id(), new_run_id()
        store.try_acquire(key, a, 60)
        first = store.lease(key)
        assert store.renew(key, a, 3600)
        renewed = store.lease(key)
        assert first is not None and renewed is not None and renewed[0] == a and renewed[1] > first[1]
        assert not store.renew(key, b, 7200)
        assert store.lease(key) == renewed
        assert not store.renew(new_key(), a, 60)  # nothing held

    def test_an_expired_lease_is_taken_over(self, store: CacheStore) -> None:
        key, a, b = new_key(), new_run_id(), new_run_id()
        assert store.try_acquire(key, a, 0.05) == (True, None)
        deadline = time.monotonic() + 60  # a safety bound, not a timing assertion
        while not (took := store.try_acquire(key, b, 60))[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert took == (True, a)  # the taker learns whose run to abandon
        held = store.lease(key)
        assert held is not None and held[0] == b
        assert not store.renew(key, a, 60)  # the old holder has lost it

    # -- hash caches -----------------------------------------------------------------------------
    def test_stat_hashes_round_trip_in_batches_and_upsert(self, store: CacheStore) -> None:
        base = f"/contract/{unique()}"
        rows = [(f"{base}/f{i}", StatKey(i, i * 10, i + 1, 2049, i * 10 + 5), hash_bytes(str(i).encode()))
                for i in range(2500)]
        store.put_many(rows)
        store.put_many([(rows[7][0], StatKey(0, 0, 0, 0, 0), rows[7][2])])  # a changed file: replaced
        got = store.get_many([p for p, _, _ in rows] + [f"{base}/missing"])
        assert len(got) == 2500 and f"{base}/missing" not in got
        assert got[rows[7][0]] == (StatKey(0, 0, 0, 0, 0), rows[7][2])
        assert got[rows[70][0]] == (StatKey(70, 700, 71, 2049, 705), hash_bytes(b"70"))
        assert store.get_many([]) == {}

    def test_the_stat_identity_round_trips_whole_with_unsigned_64_bit_numbers(self, store: CacheStore) -> None:
        """Device and inode numbers are unsigned 64-bit (NFS, FUSE and overlay filesystems use the high bit);
        ctime_ns is part of the identity, so a key that differs only in it is another key."""
        path, h = f"/contract/{unique()}/big", hash_bytes(b"big")
        key = StatKey(2**40, 1_700_000_000_123_456_789, 2**64 - 2, 2**63 + 5, 1_700_000_000_987_654_321)
        store.put_many([(path, key, h)])
        assert store.get_many([path]) == {path: (key, h)}
        assert store.get_under(path.rsplit("/", 1)[0]) == {path: (key, h)}
        moved = StatKey(key.size, key.mtime_ns, key.inode, key.device, key.ctime_ns + 1)
        assert moved != key and store.get_many([path])[path][0] != moved

    def test_get_under_is_a_directory_not_a_name_prefix(self, store: CacheStore) -> None:
        base, h = f"/contract/{unique()}", hash_bytes(b"x")
        inside = {f"{base}/d/a": (StatKey(1, 1, 1, 1, 1), h), f"{base}/d/sub/b": (StatKey(2, 2, 2, 2, 2), h)}
        outside = {f"{base}/d2/c": (StatKey(3, 3, 3, 3, 3), h), f"{base}/dx": (StatKey(4, 4, 4, 4, 4), h)}
        store.put_many([(p, k, v) for p, (k, v) in {**inside, **outside}.items()])
        assert store.get_under(f"{base}/d") == inside
        assert store.get_under(f"{base}/d/") == inside
        assert store.get_under(f"{base}/none") == {}

    def test_stat_hashes_are_shared_by_every_instance(self, store: CacheStore, reopen: Opener) -> None:
        path, row = f"/contract/{unique()}/data.csv", (StatKey(10, 20, 30, 40, 50), hash_bytes(b"data"))
        store.put_many([(path, *row)])
        assert reopen().get_many([path]) == {path: row}

    def test_the_store_is_the_stat_cache_of_hash_directory(self, store: CacheStore, tmp_path: Path) -> None:
        d = tmp_path / "tree"
        d.mkdir()
        for i in range(50):
            (d / f"f{i}.txt").write_text(str(i))
        first = hash_directory(d, store)
        assert len(store.get_under(str(d))) == 50
        assert hash_directory(d, store) == first
        (d / "f3.txt").write_text("changed")
        assert hash_directory(d, store) != first

    def test_remote_hashes_round_trip_upsert_and_are_shared(self, store: CacheStore, reopen: Opener) -> None:
        uris = [f"s3://contract-{unique()}/part-{i}.parquet" for i in range(1200)]
        rows = [(u, RemoteStat(i, f"etag-{i}", f"v{i}" if i % 2 else ""), hash_bytes(u.encode()))
                for i, u in enumerate(uris)]
        store.put_remote(rows)
        store.put_remote([(uris[3], RemoteStat(4, "etag-new", "v9"), hash_bytes(b"new"))])  # the object changed
        store.put_remote([])
        got = reopen().get_remote([*uris, "s3://contract/missing"])
        assert len(got) == 1200 and "s3://contract/missing" not in got
        assert got[uris[3]] == (RemoteStat(4, "etag-new", "v9"), hash_bytes(b"new"))
        assert got[uris[10]] == (RemoteStat(10, "etag-10", ""), hash_bytes(uris[10].encode()))
        assert store.get_remote([]) == {}

    # -- close -----------------------------------------------------------------------------------
    def test_close_is_idempotent_and_keeps_what_was_written(self, store: CacheStore, reopen: Opener,
                                                            job: int) -> None:
        key = new_key()
        run_id, _ = put_entry(store, job, key)
        store.close()
        store.close()
        entry = reopen().lookup(key)
        assert entry is not None and entry.run_id == run_id
