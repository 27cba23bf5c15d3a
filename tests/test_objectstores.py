"""Artifacts on S3 (moto server) and GCS (fake-gcs-server) through s3fs/gcsfs, and remote inputs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import fsspec
import pytest

from lineage_core import Uri, explain
from lineage_core.cache import default_store
from lineage_core.errors import ArtifactError, IntegrityError
from lineage_core.hashing import hash_bytes, hash_uri
from lineage_core.store import ArtifactStore

from .conftest import new_bucket
from .services.objectstores import S3Server


def test_artifact_contract(artifacts_url: str, tmp_path: Path) -> None:
    store = ArtifactStore(artifacts_url)
    src = tmp_path / "blob"
    src.write_bytes(b"x" * 100_000)
    rec = store.publish(str(src))
    assert rec.hash == hash_bytes(b"x" * 100_000) and rec.size == 100_000
    assert bytes(store.read_verified(rec.hash)) == b"x" * 100_000
    if store.protocol != "file":
        info = store.fs.info(store.path_for(rec.hash))
        meta = info.get("metadata") or store.fs.metadata(store.path_for(rec.hash))
        assert meta["blake3"] == rec.hash  # our own hash travels with the object
    with store.fs.open(store.path_for(rec.hash), "wb") as f:
        f.write(b"y" * 100_000)
    with pytest.raises(IntegrityError):
        store.read_verified(rec.hash)
    store.fs.rm_file(store.path_for(rec.hash))
    with pytest.raises(ArtifactError, match="missing"):
        store.read_verified(hash_bytes(b"never stored"))


@pytest.mark.usefixtures("artifacts_url")
def test_cached_steps_on_object_stores(make_module: Callable[..., ModuleType]) -> None:
    m = make_module("import numpy as np\nfrom lineage_core import cached\nN = []\n"
                    "@cached\ndef make(n):\n    N.append(n)\n    return np.arange(n)\n")
    assert m.make(1000).sum() == 499500 and m.make(1000).sum() == 499500 and explain(m.make).hit
    store = default_store()
    blob = store.artifacts.path_for(store.lookup(explain(m.make).key).artifact_hash)  # type: ignore[union-attr]
    with store.artifacts.fs.open(blob, "wb") as f:
        f.write(b"corrupted")
    assert m.make(1000).sum() == 499500 and not explain(m.make).hit and len(m.N) == 2
    assert m.make(1000).sum() == 499500 and explain(m.make).hit


@pytest.mark.usefixtures("artifacts_url")
def test_a_failed_write_leaves_no_blob_and_no_entry(make_module: Callable[..., ModuleType]) -> None:
    from lineage_core.store.materializers import Materializer, register_materializer

    class HalfWriter(Materializer):
        name = "half-writer"

        def can_save(self, value: object) -> bool:
            return type(value).__name__ == "Half"

        def save(self, value: object, path: str, ctx: object) -> dict[str, object]:
            with open(path, "wb") as f:
                f.write(b"partial")
            raise OSError("disk full halfway")

    src = "from lineage_core import cached\n@cached\ndef g(x):\n    return x\n"
    before = make_module(src, name="regkey").g.manifest(1).key()
    register_materializer(HalfWriter())
    assert make_module(src, name="regkey").g.manifest(1).key() == before  # registering changes no key
    m = make_module("from lineage_core import cached\nclass Half:\n    pass\n"
                    "@cached\ndef f(x):\n    return Half()\n")
    with pytest.raises(OSError, match="disk full"):
        m.f(1)
    store = default_store()
    assert store.entries() == [] and default_store().runs()[0]["status"] == "FAILED"
    store.artifacts.fs.invalidate_cache()
    assert not store.artifacts.fs.exists(f"{store.artifacts.root}/blobs")


def test_remote_inputs_use_etag_only_as_a_change_detector(s3_server: S3Server,
                                                          make_module: Callable[..., ModuleType]) -> None:
    bucket = new_bucket("s3")
    fs = fsspec.filesystem("s3")
    fs.pipe_file(f"{bucket}/data.csv", b"a,b\n1,2\n")
    m = make_module("from lineage_core import cached, Uri\n"
                    "@cached\ndef rows(data: Uri) -> int:\n    import fsspec\n"
                    "    with fsspec.open(data.uri) as f:\n        return len(f.read().splitlines())\n")
    uri = Uri(f"s3://{bucket}/data.csv")
    assert m.rows(uri) == 2
    gets = s3_server.requests("GET", f"/{bucket}/data.csv")
    assert gets >= 2  # the step read it, and we streamed it once to hash it
    assert m.rows(uri) == 2 and explain(m.rows).hit
    assert s3_server.requests("GET", f"/{bucket}/data.csv") == gets  # unchanged: nothing downloaded to hash it
    fs.pipe_file(f"{bucket}/data.csv", b"a,b\n1,2\n3,4\n")
    assert m.rows(uri) == 3, explain(m.rows)
    (reason,) = explain(m.rows).reasons
    assert reason.startswith("input 'data' changed")


def test_multipart_etag_is_never_a_content_hash(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = new_bucket("s3")
    data = os.urandom(6 << 20) + os.urandom(6 << 20)
    src = tmp_path / "big"
    src.write_bytes(data)
    fs = fsspec.filesystem("s3")
    fs.put_file(str(src), f"{bucket}/big", chunksize=5 << 20)  # multipart: ETag is "<md5 of md5s>-3"
    fs.invalidate_cache()
    assert "-" in fs.info(f"{bucket}/big")["ETag"]
    assert hash_uri(f"s3://{bucket}/big", default_store()) == hash_bytes(data)


def test_remote_prefix_hashes_as_a_manifest(gcs_server: object) -> None:
    bucket = new_bucket("gs")
    fs = fsspec.filesystem("gs")
    fs.pipe_file(f"{bucket}/ds/a.txt", b"a")
    fs.pipe_file(f"{bucket}/ds/sub/b.txt", b"b")
    first = hash_uri(f"gs://{bucket}/ds", default_store())
    assert first == hash_uri(f"gs://{bucket}/ds", default_store())
    fs.pipe_file(f"{bucket}/ds/sub/b.txt", b"B")
    assert hash_uri(f"gs://{bucket}/ds", default_store()) != first


@pytest.mark.usefixtures("artifacts_url")
def test_directory_outputs_are_per_file_blobs_kept_by_gc(
    make_module: Callable[..., ModuleType], tmp_path: Path
) -> None:
    from lineage_core.retention import collect_garbage

    m = make_module("import os\nfrom pathlib import Path\nfrom lineage_core import cached\n"
                    "@cached\ndef build(d: str, n: int):\n    out = Path(d) / 'model'\n"
                    "    (out / 'shards').mkdir(parents=True, exist_ok=True)\n"
                    "    for i in range(n):\n        (out / 'shards' / f'{i}.bin').write_bytes(bytes([i]) * 1000)\n"
                    "    (out / 'same.txt').write_text('dup')\n    (out / 'copy.txt').write_text('dup')\n"
                    "    (out / 'run.sh').write_text('#!/bin/sh\\n')\n    os.chmod(out / 'run.sh', 0o755)\n"
                    "    return out\n")
    out = m.build(str(tmp_path / "w"), 12)
    store = default_store()
    (entry,) = store.entries()
    meta = store.lookup(entry["key"]).meta  # type: ignore[union-attr]
    assert meta["kind"] == "tree" and len(meta["members"]) == 14  # 12 shards + run.sh + one blob for the 2 dups
    report = collect_garbage(store, grace=0)
    assert report.blobs == 0  # members of a live tree are live
    import shutil

    shutil.rmtree(out)
    again = m.build(str(tmp_path / "w"), 12)
    assert explain(m.build).hit and again.name == "model"  # restored in the client's own directory
    assert again.resolve().is_relative_to((store.home / "materialized").resolve()) and not out.exists()
    assert (again / "shards" / "11.bin").read_bytes() == bytes([11]) * 1000
    assert os.access(again / "run.sh", os.X_OK) and (again / "copy.txt").read_text() == "dup"
    store.invalidate(job=entry["name"])
    assert collect_garbage(store, grace=0).blobs == 15  # the manifest and its 14 members
