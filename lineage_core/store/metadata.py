"""The metadata store: jobs, runs, key manifests, environments, artifacts, cache entries, stat cache.

SQLAlchemy 2 Core on SQLite by default (WAL, a busy timeout) and PostgreSQL by a URL change; the
schema comes from Alembic migrations, applied on open when the database is behind. The in-process hit
path is one indexed join plus one insert, so ``@cached`` stays cheap enough for call-level memoization.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .. import settings
from ..environment import EnvironmentSnapshot
from ..errors import ConfigError, RunNotFoundError, StoreConflictError, StoreError
from ..redact import redact_url
from ..status import RunStatus
from . import hit_journal
from . import schema as t
from .artifacts import ArtifactRecord, ArtifactStore
from .base import driver_insert
from .hashcache import HashCacheMixin
from .integrity import IntegrityMixin
from .leases import LeaseMixin
from .protocol import CacheEntry, RunDataset, StoredArtifact
from .run_datasets import RunDatasetsMixin

HEAD_REVISION = "0012"
_MIGRATION_LOCK = 0x11E4A6E  # advisory lock id serialising migrations on PostgreSQL
_MIGRATIONS = Path(__file__).with_name("migrations")


def _revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Store(HashCacheMixin, LeaseMixin, IntegrityMixin, RunDatasetsMixin):
    """Metadata (SQL) plus artifacts (fsspec). Open with :meth:`from_url` or :meth:`default`."""

    def __init__(self, engine: Engine, artifacts: ArtifactStore, home: Path) -> None:
        super().__init__(engine)
        self.artifacts = artifacts
        self.home = home
        self._jobs: dict[tuple[str, str], int] = {}
        self._envs: set[str] = set()
        self._lock = threading.Lock()

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def from_url(cls, store_url: str, artifacts_url: str | None = None, migrate: bool = True) -> Store:
        if settings.is_server_url(store_url):
            raise ConfigError(
                f"{redact_url(store_url)} is a lineage server: cached steps use it as their store, but this needs "
                "the database itself (set LINEAGE_STORE_URL to the server's database URL, or use the server's API)"
            )
        try:
            url = sa.make_url(store_url)
        except sa.exc.ArgumentError:
            raise ConfigError(f"invalid store URL {redact_url(store_url)!r}") from None
        kwargs: dict[str, Any] = {}
        home = settings.lineage_home()
        if url.get_backend_name() == "sqlite":
            db = url.database
            if db and db != ":memory:":
                Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
                home = Path(db).expanduser().parent
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        try:
            engine = sa.create_engine(url, **kwargs)
        except (ImportError, sa.exc.ArgumentError) as e:
            raise ConfigError(f"cannot open store {redact_url(store_url)}: {e}") from None
        if url.get_backend_name() == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            # this process's hits waiting in a journal are committed before it reads (hit_journal's contract)
            sa.event.listen(engine, "engine_connect", lambda _conn: hit_journal.flush_all())
        if artifacts_url is None:
            artifacts_url = settings.Settings.current().artifacts_url or (home / "artifacts").as_uri()
        store = cls(engine, ArtifactStore(artifacts_url), home)
        if migrate:
            store.migrate()
        return store

    @classmethod
    def default(cls) -> Store:
        """The store named by ``LINEAGE_STORE_URL`` / ``LINEAGE_ARTIFACTS_URL`` / ``LINEAGE_HOME``."""
        return cls.from_url(settings.store_url(), settings.artifacts_url())

    @property
    def url(self) -> str:
        return redact_url(self.engine.url.render_as_string(hide_password=True))

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as c:
                return _revision(c)
        except sa.exc.OperationalError as e:
            raise StoreError(f"store {self.url} is unreachable: {e.orig}") from None

    def migrate(self) -> None:
        """Bring the schema to head; safe when several processes open a fresh store at once.

        PostgreSQL: DDL is transactional, so migrations run under a transaction-scoped advisory lock
        and the loser of the race finds the schema current. SQLite: a losing migrator fails on the
        existing tables or the write lock, then finds the schema current and carries on.
        """
        if self.current_revision() == HEAD_REVISION:
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        for attempt in range(8):
            try:
                with self.engine.begin() as conn:
                    if self.engine.dialect.name == "postgresql":
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
                        if _revision(conn) == HEAD_REVISION:
                            return
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                return
            except sa.exc.DBAPIError:  # another process is migrating (table exists / locked)
                time.sleep(0.2 * (attempt + 1))
                if self.current_revision() == HEAD_REVISION:
                    return
        raise StoreError(f"could not migrate store {self.url}")

    def close(self) -> None:
        self.engine.dispose()

    # -- jobs and environments -----------------------------------------------------------------
    def job_id(self, namespace: str, name: str) -> int:
        k = (namespace, name)
        jid = self._jobs.get(k)
        if jid is not None:
            return jid
        q = sa.select(t.jobs.c.id).where(t.jobs.c.namespace == namespace, t.jobs.c.name == name)
        with self.engine.begin() as c:
            jid = c.execute(q).scalar()
            if jid is None:
                row = {"namespace": namespace, "name": name, "created_at": time.time()}
                c.execute(self._insert_or_ignore(t.jobs), row)
                jid = c.execute(q).scalar_one()
        self._jobs[k] = int(jid)
        return int(jid)

    def put_environment(self, env: EnvironmentSnapshot) -> str:
        h = env.content_hash
        if h in self._envs:
            return h
        with self.engine.begin() as c:
            row = {"hash": h, "snapshot": env.to_dict(), "created_at": time.time()}
            c.execute(self._insert_or_ignore(t.environments), row)
        self._envs.add(h)
        return h

    def get_environment(self, env_hash: str) -> EnvironmentSnapshot | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(t.environments.c.snapshot).where(t.environments.c.hash == env_hash)).first()
        return EnvironmentSnapshot.from_dict(row[0]) if row else None

    # -- cache entries ---------------------------------------------------------------------------
    _LOOKUP = (
        sa.select(
            t.cache_entries.c.key, t.cache_entries.c.run_id, t.cache_entries.c.artifact_hash,
            t.cache_entries.c.value_hash, t.cache_entries.c.created_at, t.artifacts.c.materializer,
            t.artifacts.c.meta, t.artifacts.c.size,
        )
        .join(t.artifacts, t.artifacts.c.hash == t.cache_entries.c.artifact_hash)
        .where(t.cache_entries.c.key == sa.bindparam("k"), t.cache_entries.c.tombstoned_at.is_(None))
    )

    def lookup(self, key: str) -> CacheEntry | None:
        with (self._auto or self.engine).connect() as c:
            return self.lookup_in(c, key)

    def lookup_in(self, conn: sa.Connection, key: str) -> CacheEntry | None:
        """:meth:`lookup` on the caller's connection (the server's hit: its lookup, run and audit row in one)."""
        row = conn.execute(self._LOOKUP, {"k": key}).first()
        return CacheEntry(*row[:7], size=row[7]) if row else None

    def put_entry(
        self, key: str, job_id: int, manifest: dict[str, Any], run_id: str, artifact: ArtifactRecord,
        materializer: str, meta: dict[str, Any], value_hash: str | None,
    ) -> None:
        """Record artifact, manifest and entry in one transaction (all or nothing, idempotent).

        The artifact row is touched (``created_at``) so retention's grace period counts from the
        latest use; a collision with a concurrent ``gc`` deleting the row is retried once.
        """
        for attempt in (1, 2):
            now = time.time()
            try:
                with self.engine.begin() as c:
                    c.execute(self._insert_or_ignore(t.artifacts), {
                        "hash": artifact.hash, "uri": artifact.uri, "size": artifact.size,
                        "materializer": materializer, "meta": meta, "created_at": now,
                    })
                    c.execute(t.artifacts.update().where(t.artifacts.c.hash == artifact.hash).values(created_at=now))
                    c.execute(self._insert_or_ignore(t.manifests),
                              {"key": key, "job_id": job_id, "manifest": manifest, "created_at": now})
                    c.execute(t.cache_entries.delete().where(t.cache_entries.c.key == key))
                    c.execute(t.cache_entries.insert().values(
                        key=key, job_id=job_id, run_id=run_id, artifact_hash=artifact.hash,
                        value_hash=value_hash, created_at=now,
                    ))
                return
            except sa.exc.IntegrityError as e:
                known = self._has(t.jobs.c.id, job_id)
                if known and attempt == 1:
                    continue  # a concurrent gc deleted the artifact row: once more
                why = str(e.orig).splitlines()[0] if known else f"job {job_id} does not exist"
                raise StoreConflictError(
                    f"cannot record the entry for key {key[:20]}… in store {self.url}: {why} (nothing was written)"
                ) from None

    def _has(self, column: sa.Column[Any], value: Any) -> bool:
        """Whether a row with this key exists (what an integrity error was about)."""
        with self.engine.connect() as c:
            return c.execute(sa.select(sa.literal(1)).where(column == value)).first() is not None

    def artifact_meta(self, digest: str) -> dict[str, Any] | None:
        """The materializer's metadata recorded with a stored artifact (None when unknown)."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(t.artifacts.c.meta).where(t.artifacts.c.hash == digest)).first()
        return None if row is None else (row[0] or {})

    def stored_artifact(self, digest: str) -> StoredArtifact | None:
        """The artifact row (its materializer, meta and size), None when unknown."""
        ar = t.artifacts.c
        with self.engine.connect() as c:
            row = c.execute(sa.select(ar.materializer, ar.meta, ar.size).where(ar.hash == digest)).first()
        return None if row is None else StoredArtifact(digest, row[0], row[1] or {}, row[2])

    def tombstone(self, key: str) -> None:
        with self.engine.begin() as c:
            c.execute(t.cache_entries.update().where(t.cache_entries.c.key == key).values(tombstoned_at=time.time()))

    def invalidate(self, *, key: str | None = None, job: str | None = None) -> int:
        """Tombstone entries by key (or key prefix) or by job name; returns how many."""
        q = t.cache_entries.update().where(t.cache_entries.c.tombstoned_at.is_(None))
        if key:
            q = q.where(t.cache_entries.c.key.startswith(key) if len(key) < 71 else t.cache_entries.c.key == key)
        if job:
            ids = sa.select(t.jobs.c.id).where(t.jobs.c.name == job)
            q = q.where(t.cache_entries.c.job_id.in_(ids))
        with self.engine.begin() as c:
            return c.execute(q.values(tombstoned_at=time.time())).rowcount or 0

    def entries(self, job: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        q = (
            sa.select(
                t.cache_entries.c.key, t.jobs.c.namespace, t.jobs.c.name, t.cache_entries.c.run_id,
                t.artifacts.c.materializer, t.artifacts.c.size, t.cache_entries.c.created_at,
                t.cache_entries.c.tombstoned_at,
            )
            .join(t.jobs, t.jobs.c.id == t.cache_entries.c.job_id)
            .join(t.artifacts, t.artifacts.c.hash == t.cache_entries.c.artifact_hash)
            .order_by(t.cache_entries.c.created_at.desc())
            .limit(limit)
        )
        if job:
            q = q.where(t.jobs.c.name == job)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def previous_manifests(self, job_id: int, limit: int = 20) -> list[dict[str, Any]]:
        q = (
            sa.select(t.manifests.c.manifest)
            .where(t.manifests.c.job_id == job_id)
            .order_by(t.manifests.c.created_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as c:
            return [r[0] for r in c.execute(q)]

    def manifest(self, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            return c.execute(sa.select(t.manifests.c.manifest).where(t.manifests.c.key == key)).scalar()

    # -- runs ----------------------------------------------------------------------------------
    _RUN_COLUMNS = tuple(c.name for c in t.runs.columns)
    _RUN_JSON = frozenset(c.name for c in t.runs.columns if isinstance(c.type, sa.JSON))

    def insert_run(self, *, inputs: Sequence[RunDataset] = (), **row: Any) -> None:
        """Insert one run, with the datasets it reads (resolved, see RunDataset) in the same transaction. On the
        hit path this is the one write (base.driver_insert)."""
        with self.engine.begin() if inputs else self._statement() as conn:
            self.insert_run_in(conn, inputs, row)

    def insert_run_in(self, conn: sa.Connection, inputs: Sequence[RunDataset], row: dict[str, Any]) -> None:
        """:meth:`insert_run` in the caller's transaction (StoreConflictError: roll it back)."""
        values = {col: row.get(col) for col in self._RUN_COLUMNS}
        for col in self._RUN_JSON:
            if values[col] is not None:
                values[col] = json.dumps(values[col], default=str)
        try:
            driver_insert(conn, t.runs, self._RUN_COLUMNS, values)
            if inputs:
                self._write_datasets(conn, str(values["id"]), inputs, ())
        except sa.exc.IntegrityError:
            raise StoreConflictError(self._conflict(values)) from None

    def _conflict(self, run: dict[str, Any]) -> str:
        """Why a run row could not be written: its id is taken, or it names a job or environment not stored."""
        if self._has(t.runs.c.id, run.get("id")):
            why = f"run {run.get('id')} exists already"
        elif run.get("job_id") is not None and not self._has(t.jobs.c.id, run["job_id"]):
            why = f"job {run['job_id']} does not exist"
        elif run.get("environment_hash") and not self._has(t.environments.c.hash, run["environment_hash"]):
            why = f"environment {run['environment_hash']} is not stored (put_environment first)"
        else:
            why = "it conflicts with a stored row"
        return f"cannot record run {run.get('id')} in store {self.url}: {why} (nothing was written)"

    def abandon_run(self, run_id: str, why: str) -> None:
        """Mark a RUNNING run whose worker died (its lease expired) as ABORTED."""
        with self.engine.begin() as c:
            c.execute(
                t.runs.update()
                .where(t.runs.c.id == run_id, t.runs.c.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.ABORTED.value, ended_at=time.time(), error=why)
            )

    def finish_run(self, run_id: str, *, outputs: Sequence[RunDataset] = (), **values: Any) -> None:
        """The run's end, with the datasets it wrote, in one transaction."""
        try:
            with self.engine.begin() as c:
                done = c.execute(t.runs.update().where(t.runs.c.id == run_id).values(ended_at=time.time(), **values))
                if outputs and done.rowcount:  # an unknown run has no rows to hang datasets on
                    self._write_datasets(c, run_id, (), outputs)
        except sa.exc.IntegrityError:
            raise StoreConflictError(self._conflict({"id": None, **values})) from None

    def _run_select(self) -> sa.Select[Any]:
        return sa.select(
            t.runs, t.jobs.c.namespace, t.jobs.c.name.label("job")
        ).join(t.jobs, t.jobs.c.id == t.runs.c.job_id)

    def runs(self, job: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = self._run_select().order_by(t.runs.c.started_at.desc(), t.runs.c.id.desc()).limit(limit)
        if job:
            q = q.where(t.jobs.c.name == job)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def runs_by_id(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The runs with these exact ids (unknown ones left out): many runs in a few queries (a listing's sources)."""
        ids = list(dict.fromkeys(run_ids))
        with self.engine.connect() as c:
            return [dict(r._mapping) for i in range(0, len(ids), 500)
                    for r in c.execute(self._run_select().where(t.runs.c.id.in_(ids[i : i + 500])))]

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A run by id, unique id prefix (at least 6 characters) or tag (``JOB@NAME``, see lineage_core.tags)."""
        if "@" in run_id:
            from .tags import TagTables

            run_id = TagTables(self).resolve(run_id)
        if len(run_id) < 6:
            raise RunNotFoundError(f"run id {run_id!r} is too short (give at least 6 characters)")
        q = self._run_select().where(t.runs.c.id.startswith(run_id, autoescape=True)).limit(2)
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(q)]
        if not rows:
            raise RunNotFoundError(f"no run {run_id!r} in store {self.url}")
        if len(rows) > 1:
            raise RunNotFoundError(f"run id prefix {run_id!r} is ambiguous")
        return rows[0]

