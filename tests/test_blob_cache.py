"""The node-local verified blob cache (lineage_core.store.blob_cache) of a server store: a real token-protected
`lineage serve` (the session's, on SQLite) and the client's cache on this machine's disk, filled by real downloads."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage_core.errors import ArtifactError
from lineage_core.hashing import MemoryStatCache, hash_bytes
from lineage_core.settings import Settings
from lineage_core.store import RemoteStore
from lineage_core.store.blob_cache import BlobCache
from lineage_core.store.remote import RemoteArtifacts

from .conftest import StoreServer
from .test_metrics import scrape, value

BLOB_GETS = "lineage_http_request_duration_seconds_count"


def blob_gets(server: StoreServer) -> float:
    """Blob downloads the server answered (counted at the server)."""
    return value(scrape(server.server, server.token), BLOB_GETS, route="/api/v1/store/blobs/{digest}",
                 method="GET", status="2xx")


def downloads_since(server: StoreServer, before: float, expected: int = 1) -> float:
    """Blob downloads since ``before``. The server counts a request once its response has been sent, which can be
    just after the client has read the last byte: so this waits (bounded) for the count to reach ``expected``, and
    returns whatever it is then (a download too many still shows)."""
    deadline = time.monotonic() + 10
    while (n := blob_gets(server) - before) < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return n


def payload(size: int) -> bytes:
    head = uuid.uuid4().bytes
    return head + bytes(range(256)) * ((size - len(head)) // 256) + b"z" * ((size - len(head)) % 256)


def open_store(server: StoreServer, cache_dir: Path, max_bytes: int | None = None) -> RemoteStore:
    os.environ["LINEAGE_BLOB_CACHE"] = str(cache_dir)
    if max_bytes is not None:
        os.environ["LINEAGE_BLOB_CACHE_MAX_BYTES"] = str(max_bytes)
    return RemoteStore.connect(server.url, server.token)


def artifacts_of(store: RemoteStore) -> RemoteArtifacts:
    assert isinstance(store.artifacts, RemoteArtifacts) and store.artifacts.cache is not None
    return store.artifacts


def upload(server: StoreServer, data: bytes) -> str:
    """The blob on the server only (uploaded without a cache, so no client holds it)."""
    os.environ["LINEAGE_BLOB_CACHE"] = "off"
    store = RemoteStore.connect(server.url, server.token)
    try:
        tmp = store.artifacts.new_temp_path()
        Path(tmp).write_bytes(data)
        return store.artifacts.publish(tmp).hash
    finally:
        store.close()


def cached_files(cache_dir: Path) -> list[Path]:
    return sorted(p for p in (cache_dir / "blobs").rglob("*") if p.is_file() and p.suffix != ".used")


@pytest.fixture
def env() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("LINEAGE_BLOB_CACHE", "LINEAGE_BLOB_CACHE_MAX_BYTES")}
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_the_default_cache_lives_under_lineage_home_and_can_be_turned_off(tmp_path: Path) -> None:
    cache = BlobCache.from_settings(Settings(home=tmp_path))
    assert cache is not None and cache.root == tmp_path / "blob-cache" and cache.max_bytes == 10 << 30
    assert BlobCache.from_settings(Settings(home=tmp_path, blob_cache="off")) is None
    assert BlobCache.from_settings(Settings(home=tmp_path, blob_cache_max_bytes=0)) is None
    env = Settings.from_env({"LINEAGE_BLOB_CACHE": str(tmp_path / "node"), "LINEAGE_BLOB_CACHE_MAX_BYTES": "1000",
                             "HOME": str(tmp_path)})
    node = BlobCache.from_settings(env)
    assert node is not None and (node.root, node.max_bytes) == (tmp_path / "node", 1000)


def test_a_cached_blob_is_not_downloaded_again(store_server: StoreServer, tmp_path: Path, env: None) -> None:
    data = payload(300_000)
    digest = upload(store_server, data)
    store = open_store(store_server, tmp_path / "cache")
    try:
        before = blob_gets(store_server)
        assert bytes(store.artifacts.read_verified(digest, store, len(data))) == data  # downloaded, kept
        assert bytes(store.artifacts.read_verified(digest, store, len(data))) == data  # from the cache
        assert downloads_since(store_server, before) == 1
        (copy,) = cached_files(tmp_path / "cache")
        assert copy.read_bytes() == data and copy.name == digest.split(":")[1]
        assert os.listdir(tmp_path / "cache" / "tmp") == []  # no temp file left behind
    finally:
        store.close()


def test_a_damaged_cache_entry_is_downloaded_again_and_repaired(
    store_server: StoreServer, tmp_path: Path, env: None,
) -> None:
    data = payload(200_000)
    digest = upload(store_server, data)
    store = open_store(store_server, tmp_path / "cache")
    try:
        before = blob_gets(store_server)  # counted from here: the first download may be counted late
        assert bytes(store.artifacts.read_verified(digest, store, len(data))) == data
        assert downloads_since(store_server, before) == 1
        (copy,) = cached_files(tmp_path / "cache")
        copy.chmod(0o644)
        copy.write_bytes(data[:-5] + b"XXXXX")  # same size, wrong bytes
        assert bytes(store.artifacts.read_verified(digest, store, len(data))) == data  # never the damaged bytes
        assert downloads_since(store_server, before, expected=2) == 2  # downloaded again
        assert copy.read_bytes() == data  # and repaired
        copy.chmod(0o644)
        copy.write_bytes(data[: len(data) // 2])  # truncated: the size says so before any hash
        assert bytes(store.artifacts.read_verified(digest, store, len(data))) == data
        copy.unlink()
        copy.symlink_to(tmp_path / "elsewhere")  # not a regular file: never followed
        (tmp_path / "elsewhere").write_bytes(data)
        assert bytes(store.artifacts.read_verified(digest, store, len(data))) == data
        assert not copy.is_symlink() and copy.read_bytes() == data
    finally:
        store.close()


def test_a_cache_entry_with_wrong_content_is_never_served(store_server: StoreServer, tmp_path: Path, env: None) -> None:
    """Planted before any fill (another pod sharing the directory), or a large blob rewritten in place with its
    mtime put back after this process trusted its stat: hashed, refused, replaced by the server's bytes."""
    small, large = payload(70_000), payload(17 << 20)
    digests = [upload(store_server, small), upload(store_server, large)]
    cache = BlobCache(tmp_path / "cache", 1 << 30)
    for digest, data in zip(digests, (small, large), strict=True):
        planted = Path(cache.path_for(digest))
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_bytes(b"\0" * len(data))
    store = open_store(store_server, tmp_path / "cache")
    try:
        stat_cache = MemoryStatCache()
        before = blob_gets(store_server)  # counted from here: a download may be counted late
        for digest, data in zip(digests, (small, large), strict=True):
            assert bytes(store.artifacts.read_verified(digest, stat_cache, len(data))) == data
            assert Path(cache.path_for(digest)).read_bytes() == data
        copy = Path(cache.path_for(digests[1]))
        assert bytes(store.artifacts.read_verified(digests[1], stat_cache, len(large))) == large  # trusted stat
        st = copy.stat()
        copy.chmod(0o644)
        with copy.open("r+b") as f:  # in place: same inode and size, the mtime put back
            f.write(b"\xff" * 16)
        os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert bytes(store.artifacts.read_verified(digests[1], stat_cache, len(large))) == large  # ctime moved
        assert downloads_since(store_server, before, expected=3) == 3 and copy.read_bytes() == large
    finally:
        store.close()
    # with the server unreachable, a damaged copy is an error, never a value
    copy.chmod(0o644)
    copy.write_bytes(b"\1" * len(large))
    arts = RemoteArtifacts(store.client, store.artifacts.root_uri, BlobCache(tmp_path / "cache", 1 << 30))
    arts.client = type(store.client)("http://127.0.0.1:9", None)
    with pytest.raises(ArtifactError):
        arts.read_verified(digests[1], MemoryStatCache(), len(large))


def fill_worker(url: str, token: str, cache_dir: str, digest: str, size: int, start_at: float) -> str:
    """One process reading the blob through the shared cache at the same moment as the others."""
    os.environ["LINEAGE_BLOB_CACHE"] = cache_dir
    store = RemoteStore.connect(url, token)
    try:
        time.sleep(max(0.0, start_at - time.time()))
        return hashlib.sha256(bytes(store.artifacts.read_verified(digest, store, size))).hexdigest()
    finally:
        store.close()


def test_eight_processes_filling_one_blob_leave_one_correct_copy(
    store_server: StoreServer, tmp_path: Path, env: None,
) -> None:
    data = payload(24 << 20)
    digest = upload(store_server, data)
    cache_dir = tmp_path / "node-cache"
    start_at = time.time() + 4.0
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        got = pool.starmap(fill_worker, [(store_server.url, store_server.token, str(cache_dir), digest, len(data),
                                          start_at)] * 8, chunksize=1)
    assert got == [hashlib.sha256(data).hexdigest()] * 8  # every process got the right bytes
    (copy,) = cached_files(cache_dir)  # one file under the digest, and it is correct
    assert copy.read_bytes() == data and hash_bytes(copy.read_bytes()) == digest
    assert os.listdir(cache_dir / "tmp") == []  # no partial file anywhere
    assert not os.access(copy, os.W_OK) or os.geteuid() == 0  # published read-only


def test_the_size_bound_removes_the_least_recently_used(store_server: StoreServer, tmp_path: Path, env: None) -> None:
    blobs = [payload(100_000) for _ in range(3)]
    a, b, c = (upload(store_server, d) for d in blobs)
    bound = 250_000  # two blobs fit, not three
    cache_dir = tmp_path / "cache"

    def read(digest: str, data: bytes) -> None:
        store = open_store(store_server, cache_dir, bound)  # a new process's view (no recent-use memory)
        try:
            assert bytes(store.artifacts.read_verified(digest, store, len(data))) == data
        finally:
            store.close()
        time.sleep(0.05)

    read(a, blobs[0])
    read(b, blobs[1])
    read(a, blobs[0])  # a is used again: b is now the least recently used
    read(c, blobs[2])
    names = {p.name for p in cached_files(cache_dir)}
    assert names == {a.split(":")[1], c.split(":")[1]}
    assert sum(p.stat().st_size for p in cached_files(cache_dir)) <= bound
    huge = payload(bound + 1)  # larger than the bound: read, never cached
    read(upload(store_server, huge), huge)
    assert {p.name for p in cached_files(cache_dir)} == names
