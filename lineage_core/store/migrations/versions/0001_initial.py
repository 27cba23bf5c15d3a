"""Initial schema: jobs, environments, runs, key manifests, artifacts, cache entries, stat cache.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(255), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("namespace", "name", name="uq_jobs_namespace_name"),
    )
    op.create_table(
        "environments",
        sa.Column("hash", sa.String(80), primary_key=True),
        sa.Column("snapshot", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cache_key", sa.String(80)),
        sa.Column("source_run_id", sa.String(36)),
        sa.Column("environment_hash", sa.String(80), sa.ForeignKey("environments.hash")),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("reasons", sa.JSON),
        sa.Column("context", sa.JSON),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_runs_job_started", "runs", ["job_id", "started_at"])
    op.create_index("ix_runs_cache_key", "runs", ["cache_key"])
    op.create_table(
        "key_manifests",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_key_manifests_job_created", "key_manifests", ["job_id", "created_at"])
    op.create_table(
        "artifacts",
        sa.Column("hash", sa.String(80), primary_key=True),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("materializer", sa.String(64), nullable=False),
        sa.Column("meta", sa.JSON),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("artifact_hash", sa.String(80), sa.ForeignKey("artifacts.hash"), nullable=False),
        sa.Column("value_hash", sa.String(80)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("tombstoned_at", sa.Float),
    )
    op.create_index("ix_cache_entries_job", "cache_entries", ["job_id"])
    op.create_table(
        "stat_cache",
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("inode", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(80), nullable=False),
        sa.Column("schema", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("stat_cache", "cache_entries", "artifacts", "key_manifests", "runs", "environments", "jobs"):
        op.drop_table(table)
