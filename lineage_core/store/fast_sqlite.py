"""The embedded SQLite store's hit path on the standard library's ``sqlite3``: the statements a cache hit runs (the
job's id, one lookup, the environment row, one run insert, the stat caches) without importing SQLAlchemy.

Why: a fresh process that only hits — every KFP task, a process-per-task Airflow worker — spent most of what
lineage-core costs it importing SQLAlchemy (150–190 ms) to run four statements. :class:`FastSqliteStore` runs those
itself, on one sqlite3 connection per thread with the SQL store's pragmas (WAL, ``synchronous=NORMAL``, a 30 s busy
timeout, foreign keys), each statement in autocommit (one implicit transaction, no fsync under WAL + NORMAL), with
sqlite3's prepared-statement cache; a hit's CACHED run row is committed a moment later together with the other hits'
rows (:mod:`.hit_journal`, which says when and what that trades). Everything else — a miss's writes, leases,
explanations, listings, what the CLI and tests ask — goes to the full :class:`~lineage_core.store.metadata.Store`,
opened (and SQLAlchemy imported) on first need. Both read and write the same tables row for row (the contract suite
runs on this class), and on any database error the fast path defers to the SQL store, whose errors are the store's.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import forks
from .. import settings as _settings
from ..errors import LineageError, StoreConflictError
from ..redact import redact_url
from . import dataset_rows, hit_journal
from .artifacts import ArtifactStore
from .protocol import CacheEntry, RunDataset, StoredArtifact
from .sqlite_stats import SqliteStatCaches
from .sqlite_stats import rollback as _rollback

if TYPE_CHECKING:
    from ..environment import EnvironmentSnapshot
    from .artifacts import ArtifactRecord
    from .metadata import Store

log = logging.getLogger(__name__)
_VERSIONS = Path(__file__).with_name("migrations") / "versions"
_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000",
            "PRAGMA foreign_keys=ON")  # as metadata._sqlite_pragmas

# The runs table's columns (schema.runs) and which hold JSON; a row naming any other column goes to the SQL store.
RUN_COLUMNS = ("id", "job_id", "status", "cache_key", "source_run_id", "environment_hash", "started_at",
               "ended_at", "reasons", "context", "error")
RUN_JSON = frozenset({"reasons", "context"})
_RUN_SET, _RUN_JSON_AT = frozenset(RUN_COLUMNS), tuple(i for i, c in enumerate(RUN_COLUMNS) if c in RUN_JSON)
_ENCODER = json.JSONEncoder(default=str)  # json.dumps(value, default=str) without building an encoder per call
_JSON_MEMO: dict[tuple[Any, ...], str] = {}  # what a hit repeats (its reason, its context): encoded once
_INSERT_RUN = f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})"  # noqa: S608
_JOB = "SELECT id FROM jobs WHERE namespace = ? AND name = ?"
_RUN_SUMMARY = "SELECT j.name, r.context FROM runs AS r JOIN jobs AS j ON j.id = r.job_id WHERE r.id = ?"
_JOB_INSERT = "INSERT INTO jobs (namespace, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
_ENV = "SELECT 1 FROM environments WHERE hash = ?"
_ENV_INSERT = "INSERT INTO environments (hash, snapshot, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
_LOOKUP = ("SELECT e.key, e.run_id, e.artifact_hash, e.value_hash, e.created_at, a.materializer, a.meta, a.size "
           "FROM cache_entries AS e JOIN artifacts AS a ON a.hash = e.artifact_hash "
           "WHERE e.key = ? AND e.tombstoned_at IS NULL")

_DATA_VERSION = "PRAGMA data_version"
_ROWS_KEPT = 1024  # entry rows a thread keeps between changes of the database


def _sqlite_file(url: str) -> str | None:
    """The database file of a plain SQLite file URL (what the default store is); None for anything else (memory,
    URL options, escapes, ``~``), which the SQL store opens, parsing URLs the way SQLAlchemy does."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            db = url[len(prefix):]
            return db if db and db != ":memory:" and not any(c in db for c in "?#%~") else None
    return None


def head_revision() -> str:
    """The newest migration's revision, from the migration files' names (``0009_….py``): what the SQL store's
    ``HEAD_REVISION`` says (a test keeps the two equal), read without importing the SQL store."""
    return max(n[:4] for n in os.listdir(_VERSIONS) if n[:4].isdigit() and n.endswith(".py"))


class FastSqliteStore(SqliteStatCaches):
    """A :class:`~lineage_core.store.protocol.CacheStore` on an embedded SQLite database: the hit path on sqlite3,
    everything else on the SQL store (opened on first use). Open with :meth:`open`."""

    # A capability the cache path probes for (``getattr(store, name, None)``) that this store does not have: answered
    # here, so that asking does not open the SQL store (and import SQLAlchemy) just to find it missing.
    lookup_and_record = None

    def __init__(self, store_url: str, db: str, artifacts: ArtifactStore, home: Path,
                 opened_with: _settings.Settings, full: Store | None = None) -> None:
        self.artifacts = artifacts
        self.home = home
        self._store_url, self._db, self._opened_with, self._full = store_url, db, opened_with, full
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._jobs: dict[tuple[str, str], int] = {}
        self._envs: set[str] = set()
        self._journal = hit_journal.HitJournal(self._write_hits)  # CACHED rows, committed together

    @classmethod
    def open(cls, store_url: str, artifacts_url: str | None = None) -> FastSqliteStore | None:
        """The store on ``store_url`` (migrated to head first when behind, by the SQL store), or None when the URL
        is not a plain SQLite file (the SQL store opens it). Reads the current settings as ``Store.from_url``."""
        db = _sqlite_file(store_url)
        if db is None:
            return None
        home = Path(db).parent
        home.mkdir(parents=True, exist_ok=True)
        current = _settings.Settings.current()
        if artifacts_url is None:
            artifacts_url = current.artifacts_url or (home / "artifacts").as_uri()
        store = cls(store_url, db, ArtifactStore(artifacts_url), home, current)
        if store._revision() != head_revision():
            from .metadata import Store  # a new or older database: the SQL store migrates it (and stays open)

            full = Store.from_url(store_url, artifacts_url)
            full.artifacts = store.artifacts
            store._full = full
        return store

    # -- connections ---------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (a new one after a fork: a SQLite connection never crosses one)."""
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None or local.forks != forks.generation:
            conn = sqlite3.connect(self._db, timeout=30, isolation_level=None, check_same_thread=False)
            for pragma in _PRAGMAS:
                conn.execute(pragma)
            local.conn, local.forks = conn, forks.generation
            local.rows, local.version = {}, None  # lookup's rows, valid while the database's data_version holds
            with self._lock:
                self._conns.append(conn)
        return conn

    def _revision(self) -> str | None:
        try:
            row = self._conn().execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:  # no schema yet (or not a database: the SQL store says so)
            return None
        return None if row is None else str(row[0])

    def _store(self) -> Store:
        """The SQL store on the same database and artifacts, opened once, on first need."""
        full = self._full
        if full is None:
            with self._lock:
                full = self._full
                if full is None:
                    from .metadata import Store

                    with _settings.use(self._opened_with):
                        full = Store.from_url(self._store_url, self.artifacts.url, migrate=False)
                    full.artifacts = self.artifacts
                    self._full = full
        return full

    def __getattr__(self, name: str) -> Any:
        """What is not the hit path (listings, ``engine``, retention's and the CLI's queries): the SQL store's."""
        if name.startswith("__") or name in ("_full", "_local", "_lock", "_journal"):
            raise AttributeError(name)
        return getattr(self._store(), name)

    @property
    def url(self) -> str:
        return redact_url(self._store_url)

    def close(self) -> None:
        self._journal.close()
        with self._lock:
            conns, self._conns = self._conns, []
            full, self._full = self._full, None
        for conn in conns:
            conn.close()
        self._local = threading.local()
        if full is not None:
            full.close()

    # -- the hit path on sqlite3 ---------------------------------------------------------------
    def job_id(self, namespace: str, name: str) -> int:
        k = (namespace, name)
        jid = self._jobs.get(k)
        if jid is not None:
            return jid
        try:
            conn = self._conn()
            row = conn.execute(_JOB, k).fetchone()
            if row is None:
                conn.execute(_JOB_INSERT, (namespace, name, time.time()))
                row = conn.execute(_JOB, k).fetchone()
        except sqlite3.Error:
            row = None
        jid = int(row[0]) if row is not None else self._store().job_id(namespace, name)
        self._jobs[k] = jid
        return jid

    def put_environment(self, env: EnvironmentSnapshot) -> str:
        h = env.content_hash
        if h in self._envs:
            return h
        try:
            conn = self._conn()
            if conn.execute(_ENV, (h,)).fetchone() is None:  # a read first: most processes find it stored
                conn.execute(_ENV_INSERT, (h, json.dumps(env.as_data()), time.time()))
        except sqlite3.Error:
            return self._store().put_environment(env)
        self._envs.add(h)
        return h

    def lookup(self, key: str) -> CacheEntry | None:
        """The live entry. A row this thread read before is read again only once the database changed: SQLite's
        ``data_version`` moves when any other connection commits (another process, this process's SQL store, the
        journal's thread), and every write to the entries and artifacts tables goes through one of those, never
        through this thread's connection (which writes jobs, environments and runs). The check is one statement,
        cheaper than the lookup's join, which is most of an LLM cache hit's database time."""
        local = self._local
        try:
            conn = self._conn()
            version = conn.execute(_DATA_VERSION).fetchone()[0]
            rows: dict[str, tuple[Any, ...]] = local.rows
            if local.version != version:
                rows.clear()
                local.version = version
            row = rows.get(key)
            if row is None:
                row = conn.execute(_LOOKUP, (key,)).fetchone()
                if row is not None:
                    if len(rows) >= _ROWS_KEPT:
                        rows.clear()
                    rows[key] = row
        except sqlite3.Error:
            return self._store().lookup(key)
        if row is None:
            return None
        meta: Any = None if row[6] is None else {} if row[6] == "{}" else json.loads(row[6])  # as the SQL store reads
        return CacheEntry(row[0], row[1], row[2], row[3], row[4], row[5], meta, size=row[7])

    def insert_run(self, *, inputs: Sequence[RunDataset] = (), **row: Any) -> None:
        """The run row (one autocommit statement) or the row and the datasets it reads, resolved against earlier
        runs' outputs as the SQL store resolves them, in one transaction. A row naming a column this module does
        not know goes to the SQL store."""
        if not row.keys() <= _RUN_SET:
            return self._store().insert_run(inputs=inputs, **row)
        if row.get("status") == "CACHED":  # a hit's record: encoded and committed with the others' (hit_journal)
            self._journal.add((row, inputs))
            return
        values = _values(row)
        conn = self._conn()
        try:
            if not inputs:
                conn.execute(_INSERT_RUN, values)
                return
            conn.execute("BEGIN")
            conn.execute(_INSERT_RUN, values)
            self._write_inputs(conn, str(row.get("id")), inputs)
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            _rollback(conn)
            raise StoreConflictError(self._store()._conflict(dict(zip(RUN_COLUMNS, values, strict=True)))) from None
        except sqlite3.Error:  # nothing was written: the SQL store writes it, or raises the store's error
            _rollback(conn)
            self._store().insert_run(inputs=inputs, **row)
        except BaseException:
            _rollback(conn)
            raise

    def _write_hits(self, rows: list[tuple[dict[str, Any], Sequence[RunDataset]]]) -> None:
        """The journal's rows in one transaction; if the database refuses it, each row alone through the SQL store
        (whose error for a row it cannot take is logged: the others are kept)."""
        conn = self._conn()
        try:
            conn.execute("BEGIN")
            for row, inputs in rows:
                conn.execute(_INSERT_RUN, _values(row))
                if inputs:
                    self._write_inputs(conn, str(row.get("id")), inputs, row.get("ended_at"))
            conn.execute("COMMIT")
            return
        except sqlite3.Error:
            _rollback(conn)
        for row, inputs in rows:
            try:
                self._store().insert_run(inputs=inputs, **row)
            except LineageError as e:
                log.warning("a cached run record was not written: %s", e)

    @staticmethod
    def _write_inputs(conn: sqlite3.Connection, run_id: str, inputs: Sequence[RunDataset],
                      now: float | None = None) -> None:
        probes = dataset_rows.probes(inputs)
        found: dict[int, tuple[Any, ...]] = {}
        if probes:
            shape = tuple(kind for _, kind in probes)
            params = dataset_rows.resolve_params(probes, inputs)
            for n, *hit in conn.execute(dataset_rows.resolve_sql(shape), params).fetchall():
                found.setdefault(probes[n][0], tuple(hit))
        data = dataset_rows.input_rows(run_id, inputs, found, time.time() if now is None else now)
        if data:
            conn.executemany(dataset_rows.INSERT, data)

    # -- everything else: the SQL store ----------------------------------------------------------
    def get_environment(self, env_hash: str) -> EnvironmentSnapshot | None:
        return self._store().get_environment(env_hash)

    def put_entry(self, key: str, job_id: int, manifest: dict[str, Any], run_id: str, artifact: ArtifactRecord,
                  materializer: str, meta: dict[str, Any], value_hash: str | None) -> None:
        self._store().put_entry(key, job_id, manifest, run_id, artifact, materializer, meta, value_hash)

    def artifact_meta(self, digest: str) -> dict[str, Any] | None:
        return self._store().artifact_meta(digest)

    def stored_artifact(self, digest: str) -> StoredArtifact | None:
        return self._store().stored_artifact(digest)

    def tombstone(self, key: str) -> None:
        self._store().tombstone(key)

    def previous_manifests(self, job_id: int, limit: int = 20) -> list[dict[str, Any]]:
        return self._store().previous_manifests(job_id, limit)

    def manifest(self, key: str) -> dict[str, Any] | None:
        return self._store().manifest(key)

    def finish_run(self, run_id: str, *, outputs: Sequence[RunDataset] = (), **values: Any) -> None:
        self._store().finish_run(run_id, outputs=outputs, **values)

    def abandon_run(self, run_id: str, why: str) -> None:
        self._store().abandon_run(run_id, why)

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self._store().get_run(run_id)

    def run_summary(self, run_id: str) -> tuple[str, dict[str, Any]]:
        """(job name, context) of the run with exactly this id, on sqlite3: what a hit's log line names, without
        opening the SQL store for it (an Airflow worker's first hit). Anything else is get_run's answer — a run
        still in this process's hit journal too: the SQL store commits the journal before it reads. Not committed
        first here: a hit's log line names its source run, which a journal never holds."""
        try:
            row = self._conn().execute(_RUN_SUMMARY, (run_id,)).fetchone()
        except sqlite3.Error:
            row = None
        if row is None:
            run = self._store().get_run(run_id)
            return run["job"], run.get("context") or {}
        return row[0], json.loads(row[1]) if row[1] else {}

    def run_datasets(self, run_id: str) -> tuple[list[RunDataset], list[RunDataset]]:
        return self._store().run_datasets(run_id)

    def try_acquire(self, key: str, owner: str, ttl: float) -> tuple[bool, str | None]:
        return self._store().try_acquire(key, owner, ttl)

    def renew(self, key: str, owner: str, ttl: float) -> bool:
        return self._store().renew(key, owner, ttl)

    def release(self, key: str, owner: str) -> None:
        self._store().release(key, owner)

    def lease(self, key: str) -> tuple[str, float] | None:
        return self._store().lease(key)


def _values(row: dict[str, Any]) -> list[Any]:
    """A run row's values in :data:`RUN_COLUMNS` order, its JSON columns encoded."""
    values = [row.get(c) for c in RUN_COLUMNS]
    for i in _RUN_JSON_AT:
        if values[i] is not None:
            values[i] = _json(values[i])
    return values


def _json(value: Any) -> str:
    """``json.dumps(value, default=str)``, remembered for what every hit of a step writes again (its reason, its
    context): a list of strings or a dict of strings to strings (other equal values may encode apart: 1, True)."""
    if type(value) is list and all(type(m) is str for m in value):
        memo_key: tuple[Any, ...] = (list, *value)
    elif type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items()):
        memo_key = (dict, *value.items())
    else:
        return _ENCODER.encode(value)
    text = _JSON_MEMO.get(memo_key)
    if text is None:
        if len(_JSON_MEMO) >= 512:
            _JSON_MEMO.clear()
        text = _JSON_MEMO[memo_key] = _ENCODER.encode(value)
    return text
