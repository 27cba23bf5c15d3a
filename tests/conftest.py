"""Shared fixtures: every test gets its own LINEAGE_HOME (SQLite store + local artifacts)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from lineage_core import runtime

from .remote_store_setup import TOKEN as REMOTE_TOKEN
from .remote_store_setup import Remote, fresh_process
from .services.lineage_server import Server
from .services.objectstores import GcsServer, S3Server
from .services.postgres import PostgresServer

# gcsfs reads this at import: its experimental gRPC bucket probing cannot reach an emulator.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL cluster for the session; each test that uses it gets a fresh database."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, lineage_home: Path) -> str:
    """Run the test once on the embedded SQLite store and once on a fresh PostgreSQL database;
    returns the store URL (also set as LINEAGE_STORE_URL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{lineage_home / 'lineage.db'}"
    else:
        url = request.getfixturevalue("pg_server").create_database()
    monkeypatch.setenv("LINEAGE_STORE_URL", url)
    return url


@pytest.fixture(autouse=True)
def lineage_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "lineage-home"
    monkeypatch.setenv("LINEAGE_HOME", str(home))
    for var in ("LINEAGE_STORE_URL", "LINEAGE_ARTIFACTS_URL", "LINEAGE_CACHE", "LINEAGE_DISABLED", "LINEAGE_NAMESPACE",
                "LINEAGE_VERIFY"):
        monkeypatch.delenv(var, raising=False)
    yield home
    for store in list(runtime._stores.values()):
        store.close()
    runtime._stores.clear()
    runtime._store_by_env.clear()


@pytest.fixture
def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModuleType]:
    """Write a user module into a temp package dir and import it under a unique name."""
    src_dir = tmp_path / "usercode"
    src_dir.mkdir()
    monkeypatch.syspath_prepend(str(src_dir))
    created: list[str] = []

    def make(source: str, name: str | None = None) -> ModuleType:
        name = name or f"mod_{uuid.uuid4().hex[:8]}"
        (src_dir / f"{name}.py").write_text(textwrap.dedent(source))
        # A rewrite of the same size within the file system's mtime granularity would import a stale .pyc
        # where bytecode is written (PYTHONDONTWRITEBYTECODE unset): drop the module's bytecode first.
        for stale in (src_dir / "__pycache__").glob(f"{name}.*.pyc"):
            stale.unlink()
        if name in sys.modules:
            del sys.modules[name]
        importlib.invalidate_caches()
        created.append(name)
        return importlib.import_module(name)

    yield make  # type: ignore[misc]
    for name in created:
        sys.modules.pop(name, None)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("moto") / "requests.log")
    os.environ.update(server.env())  # the clients find it like any S3-compatible endpoint
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsServer]:
    server = GcsServer()
    os.environ.update(server.env())
    yield server
    server.stop()


def new_bucket(protocol: str) -> str:
    import fsspec

    name = f"b-{uuid.uuid4().hex[:10]}"
    fs = fsspec.filesystem(protocol)
    fs.mkdir(name)
    fs.invalidate_cache()
    return name


@pytest.fixture(params=["file", "s3", "gcs"])
def artifacts_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, lineage_home: Path) -> str:
    """Artifacts on the local disk, on the S3 server and on the GCS emulator (LINEAGE_ARTIFACTS_URL)."""
    if request.param == "file":
        url = (lineage_home / "artifacts").as_uri()
    else:
        request.getfixturevalue("s3_server" if request.param == "s3" else "gcs_server")
        url = f"{request.param}://{new_bucket(request.param)}/lineage"
    monkeypatch.setenv("LINEAGE_ARTIFACTS_URL", url)
    return url


STORE_SERVER_TOKEN = "contract-t0ken-for-tests"


@dataclass
class StoreServer:
    """One token-protected ``lineage serve`` (off loopback) whose store API the contract suites share."""

    server: Server
    token: str
    home: Path  # the server's LINEAGE_HOME: its database and its own artifact store live here

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def artifacts_url(self) -> str:
        return (self.home / "artifacts").as_uri()


@pytest.fixture(scope="session")
def store_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreServer]:
    home = tmp_path_factory.mktemp("store-server")
    env = {"LINEAGE_HOME": str(home), "LINEAGE_STORE_URL": f"sqlite:///{home / 'lineage.db'}",
           "LINEAGE_ARTIFACTS_URL": (home / "artifacts").as_uri(), "LINEAGE_SERVER_TOKENS": STORE_SERVER_TOKEN}
    server = Server(env, host="0.0.0.0")  # off loopback: every store call needs the token
    yield StoreServer(server, STORE_SERVER_TOKEN, home)
    server.stop()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB filesystem (tmpfs; needs root and mount rights, else the test is skipped: the seam is also
    tested with an injected ENOSPC below)."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def remote(backend: str, lineage_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Remote]:
    """A lineage server as this process's cache store (tests/remote_store_setup.py)."""
    server = Server({"LINEAGE_SERVER_TOKENS": REMOTE_TOKEN}, host="0.0.0.0")  # off loopback: the token is required
    client_home = tmp_path / "pod-home"
    monkeypatch.setenv("LINEAGE_STORE_URL", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("LINEAGE_STORE_TOKEN", REMOTE_TOKEN)
    monkeypatch.setenv("LINEAGE_HOME", str(client_home))
    yield Remote(server, backend, lineage_home, client_home)
    fresh_process()
    server.stop()
    assert REMOTE_TOKEN not in (server.proc.stderr.read() if server.proc.stderr else "")
