"""Faults of the artifact store's disk, client and server side: a full disk and a read-only directory are an
ArtifactError with the path and the fix; the server's blob route never follows a symlink or blocks on a FIFO."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lineage_core import explain
from lineage_core.cache import default_store
from lineage_core.errors import ArtifactError, LineageError


# -- a full disk, a read-only artifacts directory -------------------------------------------------------
def test_a_full_disk_is_an_artifact_error_with_the_path_and_the_fix(
    make_module: Callable[..., ModuleType], small_disk: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINEAGE_ARTIFACTS_URL", small_disk.as_uri())
    m = make_module("from lineage_core import cached\n@cached\ndef big(n):\n    return b'x' * n\n")
    with pytest.raises(ArtifactError, match="no space left writing") as e:
        m.big(4 << 20)
    message = str(e.value)
    assert str(small_disk / "tmp") in message and "free space there or point LINEAGE_ARTIFACTS_URL" in message
    assert os.listdir(small_disk / "tmp") == []  # the partial temp file is gone
    assert m.big(1000) == b"x" * 1000 and m.big(1000) == b"x" * 1000 and explain(m.big).hit  # what fits works


def test_a_read_only_artifacts_directory_is_an_artifact_error(
    make_module: Callable[..., ModuleType], small_disk: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    (small_disk / "tmp").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    assert not os.access(small_disk / "tmp", os.W_OK)  # read-only even for root
    monkeypatch.setenv("LINEAGE_ARTIFACTS_URL", small_disk.as_uri())
    m = make_module("from lineage_core import cached\n@cached\ndef f(n):\n    return n\n")
    with pytest.raises(ArtifactError, match="cannot write") as e:
        m.f(1)
    assert str(small_disk / "tmp") in str(e.value) and "make the artifacts directory writable" in str(e.value)


def test_enospc_while_a_materializer_writes_is_an_artifact_error(
    make_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same seam without a small filesystem: the write itself fails with ENOSPC."""
    from lineage_core.store.materializers import BytesMaterializer

    def full(self: Any, value: Any, path: str, ctx: Any) -> dict[str, Any]:
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(BytesMaterializer, "save", full)
    m = make_module("from lineage_core import cached\n@cached\ndef f():\n    return b'abc'\n")
    with pytest.raises(ArtifactError, match="no space left writing") as e:
        m.f()
    assert isinstance(e.value, LineageError) and isinstance(e.value.__cause__, OSError)
    scratch = Path(default_store().artifacts.new_temp_path()).parent
    assert [p.name for p in scratch.iterdir() if p.stat().st_size] == []  # nothing partial left behind


def test_the_servers_blob_route_never_follows_a_symlink_or_blocks_on_a_fifo(tmp_path: Path) -> None:
    """What a client reads through the store API is opened the way every read is: a blob on the server's disk
    replaced by a symlink to /dev/zero or by a FIFO is no blob (404), answered at once."""
    import urllib.error
    import urllib.request

    from .services.lineage_server import Server

    home = tmp_path / "server"
    server = Server({"LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": f"sqlite:///{home / 'lineage.db'}"})
    try:
        from lineage_core.hashing.content import hash_bytes
        from lineage_core.store.artifacts import ArtifactStore

        arts = ArtifactStore((home / "artifacts").as_uri())
        for make in (lambda p: p.symlink_to("/dev/zero"), lambda p: os.mkfifo(p)):
            payload = os.urandom(64)
            digest = hash_bytes(payload)
            req = urllib.request.Request(f"http://127.0.0.1:{server.port}/api/v1/store/blobs/{digest}", data=payload,
                                         method="PUT")
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 201
            blob = Path(arts.path_for(digest))
            blob.unlink()
            make(blob)
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/v1/store/blobs/{digest}", timeout=30)
            assert e.value.code == 404
        assert server.request("GET", "/healthz")[0] == 200
    finally:
        server.stop()
