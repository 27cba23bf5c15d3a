"""The CacheStore contract on every store: SQLite (embedded), PostgreSQL, and the lineage server (RemoteStore
against a real token-protected ``lineage serve``, as a pod holding only its URL and token uses it)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from lineage_core.hashing import StatKey, hash_bytes
from lineage_core.store import CacheStore, RemoteStore, Store
from lineage_core.store.fast_sqlite import FastSqliteStore

from .conftest import StoreServer
from .contracts.cache_store import CacheStoreContract, Opener, unique
from .contracts.run_datasets import RunDatasetsContract
from .services.postgres import PostgresServer

PG_PASSWORD = "pg-secret-pw"  # the cluster trusts local connections, so any password opens it


class TestSQLiteStore(CacheStoreContract, RunDatasetsContract):
    url_scheme = "sqlite"

    @pytest.fixture
    def open_store(self, tmp_path: Path) -> Opener:
        url = f"sqlite:///{tmp_path / 'store' / 'lineage.db'}"
        return lambda: Store.from_url(url, (tmp_path / "artifacts").as_uri())


class TestFastSQLiteStore(CacheStoreContract, RunDatasetsContract):
    """The SQLite store as the cache path opens it (runtime.open_store): its hit path on sqlite3, the rest on the
    SQL store, opened on first need."""

    url_scheme = "sqlite"

    @pytest.fixture
    def open_store(self, tmp_path: Path) -> Opener:
        url = f"sqlite:///{tmp_path / 'store' / 'lineage.db'}"

        def opener() -> CacheStore:
            store = FastSqliteStore.open(url, (tmp_path / "artifacts").as_uri())
            assert store is not None
            return store

        return opener


class TestPostgresStore(CacheStoreContract, RunDatasetsContract):
    url_scheme = "postgresql"

    @pytest.fixture
    def store_secret(self) -> str:
        return PG_PASSWORD

    @pytest.fixture
    def open_store(self, pg_server: PostgresServer, tmp_path: Path) -> Opener:
        url = pg_server.create_database().replace("//lineage@", f"//lineage:{PG_PASSWORD}@")
        return lambda: Store.from_url(url, (tmp_path / "artifacts").as_uri())

    def test_get_under_on_a_database_whose_collation_ignores_punctuation(
        self, pg_server: PostgresServer, tmp_path: Path,
    ) -> None:
        name = unique("icu_")
        with psycopg.connect(f"host=127.0.0.1 port={pg_server.port} user=lineage dbname=postgres",
                             autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE 'C.UTF-8' LOCALE_PROVIDER icu "
                      "ICU_LOCALE 'en-US-u-ka-shifted'")  # ICU's spelling of "punctuation is ignored"
        store = Store.from_url(pg_server.url(name), (tmp_path / "artifacts").as_uri())
        try:
            row = (StatKey(1, 1, 1, 1, 1), hash_bytes(b"x"))
            store.put_many([("/data/d/a", *row), ("/data/d/sub/b", *row), ("/data/d2/c", *row)])
            assert store.get_under("/data/d") == {"/data/d/a": row, "/data/d/sub/b": row}
        finally:
            store.close()


class TestServerStore(CacheStoreContract, RunDatasetsContract):
    url_scheme = "http"

    @pytest.fixture
    def store_secret(self, store_server: StoreServer) -> str:
        return store_server.token

    @pytest.fixture
    def open_store(self, store_server: StoreServer) -> Opener:
        return lambda: RemoteStore.connect(store_server.url, store_server.token)

    def test_stat_hashes_are_shared_by_every_instance(self, store: CacheStore, reopen: Opener) -> None:
        """Overridden: a RemoteStore keeps local-file stat hashes in its own process. A pod's paths mean nothing
        on the server or in another pod, so they are never sent; another instance does not see them."""
        path, row = f"/contract/{unique()}/data.csv", (StatKey(10, 20, 30, 40, 50), hash_bytes(b"data"))
        store.put_many([(path, *row)])
        assert store.get_many([path]) == {path: row}
        assert reopen().get_many([path]) == {}
