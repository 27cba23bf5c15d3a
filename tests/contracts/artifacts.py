"""The ArtifactStore contract (lineage_core.store.artifacts): content-addressed blobs, atomic publish, verified reads.

A backend class inherits :class:`ArtifactStoreContract` and provides

- ``artifacts``: an open ArtifactStore (a fresh root per test, or a shared one: blobs are content-addressed
  and every test stores bytes of its own);
- ``damage``: a callable ``(digest, data)`` that overwrites a stored blob with other bytes *where the backend
  keeps it* (the disk, the bucket, the server's own artifact store), as a failing disk or a bad copy would;
- ``uri_scheme`` and ``protocol`` (class attributes): how the blobs' URIs start, and ``info()["protocol"]``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from lineage_core.errors import ArtifactError, IntegrityError
from lineage_core.hashing import MemoryStatCache, hash_bytes
from lineage_core.store import ArtifactStore

Damage = Callable[[str, bytes], None]


def payload(size: int = 100_000) -> bytes:
    """Bytes no other test stores (the first 16 are random), ``size`` long."""
    head = uuid.uuid4().bytes
    return head + b"x" * (size - len(head))


def temp_file(artifacts: ArtifactStore, data: bytes) -> str:
    tmp = artifacts.new_temp_path()
    Path(tmp).write_bytes(data)
    return tmp


class ArtifactStoreContract:
    uri_scheme: ClassVar[str]
    protocol: ClassVar[str]

    def test_publish_moves_a_temp_file_to_its_content_address(self, artifacts: ArtifactStore) -> None:
        data = payload()
        tmp = temp_file(artifacts, data)
        record = artifacts.publish(tmp)
        assert (record.hash, record.size, record.uri) == (hash_bytes(data), len(data), artifacts.uri_for(record.hash))
        assert not os.path.exists(tmp)  # moved, not copied
        assert artifacts.exists(record.hash)
        assert bytes(artifacts.read_verified(record.hash)) == data

    def test_publishing_the_same_bytes_again_is_the_same_record(self, artifacts: ArtifactStore) -> None:
        data = payload(1000)
        first = artifacts.publish(temp_file(artifacts, data))
        assert artifacts.publish(temp_file(artifacts, data)) == first
        assert bytes(artifacts.read_verified(first.hash)) == data

    def test_publish_file_stores_a_copy_and_leaves_the_source(self, artifacts: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "model.bin"
        data = payload(5000)
        src.write_bytes(data)
        record = artifacts.publish_file(str(src))
        assert src.read_bytes() == data
        assert (record.hash, record.size) == (hash_bytes(data), len(data))
        assert bytes(artifacts.read_verified(record.hash)) == data

    def test_publish_files_keeps_the_order_and_read_many_verifies_each(
        self, artifacts: ArtifactStore, tmp_path: Path,
    ) -> None:
        contents = [payload(100 + i) for i in range(5)] + [b""]
        srcs = []
        for i, data in enumerate([*contents, contents[0]]):  # the last file repeats the first one
            (tmp_path / f"f{i}").write_bytes(data)
            srcs.append(str(tmp_path / f"f{i}"))
        records = artifacts.publish_files(srcs)
        assert [r.hash for r in records] == [hash_bytes(d) for d in [*contents, contents[0]]]
        got = artifacts.read_many([r.hash for r in records[:-1]])
        assert {h: bytes(b) for h, b in got.items()} == {hash_bytes(d): d for d in contents}

    def test_an_unknown_digest_is_missing(self, artifacts: ArtifactStore) -> None:
        digest = hash_bytes(uuid.uuid4().bytes)
        assert not artifacts.exists(digest)
        with pytest.raises(ArtifactError, match="missing") as e:
            artifacts.read_verified(digest)
        assert not isinstance(e.value, IntegrityError)

    def test_a_damaged_blob_fails_verification_and_publishing_again_repairs_it(
        self, artifacts: ArtifactStore, damage: Damage,
    ) -> None:
        data = payload()
        record = artifacts.publish(temp_file(artifacts, data))
        damage(record.hash, b"y" * len(data))  # same size, other content
        with pytest.raises(IntegrityError, match="failed verification") as e:
            artifacts.read_verified(record.hash)
        assert isinstance(e.value, ArtifactError)  # a damaged blob is an artifact error: the cache misses
        assert artifacts.publish(temp_file(artifacts, data)) == record
        assert bytes(artifacts.read_verified(record.hash)) == data

    @pytest.mark.slow  # 17 MiB through every backend
    def test_a_large_blob_rewritten_in_place_fails_even_with_a_stat_cache(
        self, artifacts: ArtifactStore, damage: Damage,
    ) -> None:
        data = payload(17 << 20)  # over the size above which a local blob's stat may vouch for its hash
        record = artifacts.publish(temp_file(artifacts, data))
        stat_cache = MemoryStatCache()
        assert bytes(artifacts.read_verified(record.hash, stat_cache)) == data
        assert bytes(artifacts.read_verified(record.hash, stat_cache)) == data
        damage(record.hash, data[:-1] + b"!")
        with pytest.raises(IntegrityError):
            artifacts.read_verified(record.hash, stat_cache)

    def test_a_read_stops_at_the_recorded_size(self, artifacts: ArtifactStore) -> None:
        """A blob is read only when it is the size recorded for it, and never past that size + 1 bytes (local:
        its stat says so before any read; object stores: a ranged GET; the server: the stream is cut)."""
        data = payload(50_000)
        record = artifacts.publish(temp_file(artifacts, data))
        assert bytes(artifacts.read_verified(record.hash, size=len(data))) == data
        for recorded in (len(data) - 1, len(data) + 1, 1):
            with pytest.raises(ArtifactError, match=f"not the {recorded} bytes recorded") as e:
                artifacts.read_verified(record.hash, size=recorded)
            assert not isinstance(e.value, IntegrityError)  # refused for its size, before any hash

    def test_verify_blob_re_hashes_and_says_what_is_wrong(self, artifacts: ArtifactStore, damage: Damage) -> None:
        data = payload(70_000)
        record = artifacts.publish(temp_file(artifacts, data))
        seen: list[int] = []
        assert artifacts.verify_blob(record.hash, len(data), seen.append) is None
        assert sum(seen) == len(data)
        assert artifacts.verify_blob(record.hash) is None  # without a recorded size: the whole blob
        damage(record.hash, data[:-1] + b"!")
        assert "failed verification" in (artifacts.verify_blob(record.hash, len(data)) or "")
        damage(record.hash, data + b"more")
        assert f"not the {len(data)} bytes recorded" in (artifacts.verify_blob(record.hash, len(data)) or "")
        assert "missing" in (artifacts.verify_blob(hash_bytes(uuid.uuid4().bytes), 10) or "")

    def test_uri_for_names_the_blob_under_the_root(self, artifacts: ArtifactStore) -> None:
        digest = hash_bytes(uuid.uuid4().bytes)
        uri = artifacts.uri_for(digest)
        assert uri.startswith(artifacts.root_uri.rstrip("/") + "/") and uri.endswith(digest.split(":", 1)[1])
        assert uri.split("://", 1)[0] == self.uri_scheme
        assert artifacts.uri_for(digest) == uri  # a pure function of the digest

    def test_it_can_check_it_is_writable_and_describes_itself(self, artifacts: ArtifactStore) -> None:
        artifacts.check_writable()
        assert artifacts.info()["protocol"] == self.protocol
