"""Tables of the metadata store (SQLAlchemy Core; Alembic migrations create them).

Timestamps are epoch seconds (float): portable between SQLite and PostgreSQL and cheap to compare
for ``max_age`` lookups. Manifests, environments and reasons are JSON documents.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(255), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("namespace", "name", name="uq_jobs_namespace_name"),
)

environments = sa.Table(
    "environments",
    metadata,
    sa.Column("hash", sa.String(80), primary_key=True),
    sa.Column("snapshot", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # RUNNING COMPLETED CACHED FAILED
    sa.Column("cache_key", sa.String(80)),
    sa.Column("source_run_id", sa.String(36)),  # on a hit: the run that produced the value
    sa.Column("environment_hash", sa.String(80), sa.ForeignKey("environments.hash")),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("reasons", sa.JSON),  # plain-language miss reasons (or the hit's provenance)
    sa.Column("context", sa.JSON),  # who ran it: plain python, an Airflow task, a KFP task
    sa.Column("error", sa.Text),
    sa.Index("ix_runs_job_started", "job_id", "started_at"),
    sa.Index("ix_runs_cache_key", "cache_key"),
)

manifests = sa.Table(
    "key_manifests",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("manifest", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_key_manifests_job_created", "job_id", "created_at"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("hash", sa.String(80), primary_key=True),  # content hash of the stored bytes
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("materializer", sa.String(64), nullable=False),
    sa.Column("meta", sa.JSON),
    sa.Column("created_at", sa.Float, nullable=False),
)

cache_entries = sa.Table(
    "cache_entries",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("artifact_hash", sa.String(80), sa.ForeignKey("artifacts.hash"), nullable=False),
    sa.Column("value_hash", sa.String(80)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("tombstoned_at", sa.Float),
    sa.Index("ix_cache_entries_job", "job_id"),
)

stat_cache = sa.Table(
    "stat_cache",
    metadata,
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("inode", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(80), nullable=False),
    sa.Column("schema", sa.Integer, nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("owner", sa.String(36), nullable=False),  # the run id computing the key
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

pins = sa.Table(
    "pins",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("note", sa.Text),
)

remote_stat = sa.Table(
    "remote_stat",
    metadata,
    sa.Column("uri", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(255), nullable=False),  # a change detector only, never a content hash
    sa.Column("version", sa.String(255), nullable=False),  # S3 VersionId / GCS generation ("" if none)
    sa.Column("hash", sa.String(80), nullable=False),
    sa.Column("schema", sa.Integer, nullable=False),
)
