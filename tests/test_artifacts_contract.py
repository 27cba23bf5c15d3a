"""The ArtifactStore contract on every artifact store: the local disk, S3 (moto server), GCS (fake-gcs-server)
and the lineage server (RemoteArtifacts: blobs uploaded to and verified from a real token-protected server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from lineage_core.store import ArtifactStore, RemoteStore

from .conftest import StoreServer, new_bucket
from .contracts.artifacts import ArtifactStoreContract, Damage, payload, temp_file


def overwrite_blob(artifacts: ArtifactStore) -> Damage:
    """Rewrite a blob in place through the artifact store's own filesystem (a bad disk, a bad copy)."""
    def damage(digest: str, data: bytes) -> None:
        artifacts.fs.pipe_file(artifacts.path_for(digest), data)
        artifacts.fs.invalidate_cache()

    return damage


class FsspecArtifacts(ArtifactStoreContract):
    """The backends that are an ArtifactStore on an fsspec filesystem: ``root`` names where it keeps blobs."""

    @pytest.fixture
    def artifacts(self, root: str) -> ArtifactStore:
        return ArtifactStore(root)

    @pytest.fixture
    def damage(self, artifacts: ArtifactStore) -> Damage:
        return overwrite_blob(artifacts)


class TestFileArtifacts(FsspecArtifacts):
    uri_scheme = protocol = "file"

    @pytest.fixture
    def root(self, tmp_path: Path) -> str:
        return (tmp_path / "artifacts").as_uri()

    def test_publish_leaves_no_temp_file_behind(self, artifacts: ArtifactStore, tmp_path: Path) -> None:
        """Local only: scratch files live next to the blobs (publishing is a rename), and none is left."""
        artifacts.publish(temp_file(artifacts, payload(1000)))
        assert os.listdir(tmp_path / "artifacts" / "tmp") == []


class BucketArtifacts(FsspecArtifacts):
    """On an object-store emulator (started once per session by ``server_fixture``): a new bucket per test."""

    server_fixture: ClassVar[str]

    @pytest.fixture
    def root(self, request: pytest.FixtureRequest) -> str:
        request.getfixturevalue(self.server_fixture)
        return f"{self.protocol}://{new_bucket(self.protocol)}/lineage"

    def test_the_content_hash_travels_as_object_metadata(self, artifacts: ArtifactStore, tmp_path: Path) -> None:
        """Object stores only: our own hash is kept with the object (its ETag is never a content hash)."""
        (tmp_path / "blob").write_bytes(payload(1000))
        published = artifacts.publish(temp_file(artifacts, payload(1000)))
        for record in (published, artifacts.publish_file(str(tmp_path / "blob"))):  # both ways in
            path = artifacts.path_for(record.hash)
            meta = artifacts.fs.info(path).get("metadata") or artifacts.fs.metadata(path)
            assert meta["blake3"] == record.hash


class TestS3Artifacts(BucketArtifacts):
    uri_scheme = protocol = "s3"
    server_fixture = "s3_server"


class TestGcsArtifacts(BucketArtifacts):
    uri_scheme = protocol = "gs"
    server_fixture = "gcs_server"


class TestServerArtifacts(ArtifactStoreContract):
    """URIs name where the server keeps the blobs (its own artifact store on its disk), so they are file URIs.
    Without the client's blob cache: every read is the server's blob (TestServerArtifactsThroughTheBlobCache)."""

    uri_scheme = "file"
    protocol = "http"

    @pytest.fixture
    def artifacts(self, store_server: StoreServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArtifactStore]:
        monkeypatch.setenv("LINEAGE_BLOB_CACHE", "off")
        store = RemoteStore.connect(store_server.url, store_server.token)
        yield store.artifacts
        store.close()

    @pytest.fixture
    def damage(self, store_server: StoreServer) -> Damage:
        return overwrite_blob(ArtifactStore(store_server.artifacts_url))


class TestServerArtifactsThroughTheBlobCache(TestServerArtifacts):
    """The same, with the node-local verified blob cache (store.blob_cache) on: a damaged blob is damaged where the
    server keeps it and in the client's cached copy (rewritten in place), and still never read as sound."""

    @pytest.fixture
    def artifacts(self, store_server: StoreServer, monkeypatch: pytest.MonkeyPatch,
                  tmp_path: Path) -> Iterator[ArtifactStore]:
        monkeypatch.setenv("LINEAGE_BLOB_CACHE", str(tmp_path / "blob-cache"))
        store = RemoteStore.connect(store_server.url, store_server.token)
        yield store.artifacts
        store.close()

    @pytest.fixture
    def damage(self, store_server: StoreServer, artifacts: ArtifactStore) -> Damage:
        on_server = overwrite_blob(ArtifactStore(store_server.artifacts_url))

        def damage(digest: str, data: bytes) -> None:
            on_server(digest, data)
            cache = getattr(artifacts, "cache", None)
            assert cache is not None
            copy = Path(cache.path_for(digest))
            if copy.exists():
                copy.chmod(0o644)
                with copy.open("r+b") as f:  # in place: same inode, a new ctime
                    f.write(data)
                    f.truncate()

        return damage
