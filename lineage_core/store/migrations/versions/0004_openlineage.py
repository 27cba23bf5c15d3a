"""OpenLineage ingest: raw events (the source of truth) and the jobs, runs, datasets, dataset versions
and job<->dataset edges derived from them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "ol_events",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("event_type", sa.String(16)),
        sa.Column("run_id", sa.String(36)),
        sa.Column("job_namespace", sa.String(512)),
        sa.Column("job_name", sa.String(1024)),
        sa.Column("event_time", sa.Float, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ol_events_time", "ol_events", ["event_time"])
    op.create_index("ix_ol_events_run", "ol_events", ["run_id"])
    op.create_table(
        "ol_jobs",
        sa.Column("namespace", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(1024), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("parent_namespace", sa.String(512)),
        sa.Column("parent_name", sa.String(1024)),
        sa.Column("facets", sa.JSON, nullable=False),
        sa.Column("latest_run_id", sa.String(36)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ol_runs",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("job_namespace", sa.String(512), nullable=False),
        sa.Column("job_name", sa.String(1024), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("parent_run_id", sa.String(36)),
        sa.Column("facets", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ol_runs_job", "ol_runs", ["job_namespace", "job_name", "created_at"])
    op.create_table(
        "ol_datasets",
        sa.Column("namespace", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(1024), primary_key=True),
        sa.Column("facets", sa.JSON, nullable=False),
        sa.Column("current_version", sa.String(255)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ol_dataset_versions",
        sa.Column("namespace", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(1024), primary_key=True),
        sa.Column("version", sa.String(255), primary_key=True),
        sa.Column("run_id", sa.String(36)),
        sa.Column("facets", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ol_edges",
        sa.Column("job_namespace", sa.String(512), primary_key=True),
        sa.Column("job_name", sa.String(1024), primary_key=True),
        sa.Column("dataset_namespace", sa.String(512), primary_key=True),
        sa.Column("dataset_name", sa.String(1024), primary_key=True),
        sa.Column("direction", sa.String(3), primary_key=True),  # "in": dataset -> job, "out": job -> dataset
        sa.Column("last_run_id", sa.String(36)),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ol_edges_dataset", "ol_edges", ["dataset_namespace", "dataset_name", "direction"])


def downgrade() -> None:
    for table in ("ol_edges", "ol_dataset_versions", "ol_datasets", "ol_runs", "ol_jobs", "ol_events"):
        op.drop_table(table)
