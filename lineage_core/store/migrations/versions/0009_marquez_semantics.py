"""Marquez's read semantics over the lineage tables: job versions and the run each job's graph node shows,
the job facets of each run, the edges of each job's current version, each dataset's source and each version's
fields, the dataset versions each run read and wrote, column lineage, data sources, and the indexes the
dashboard's counts use.

The derived rows of earlier revisions follow older semantics (a version only where a ``version`` facet said so,
edges as the union over every run), so this revision deletes them and marks the store for a rebuild: the raw
events (``ol_events``) are the source of truth, and the first ingest or read after the upgrade re-derives every
table from them (``lineage_core.openlineage.ingest.ensure_derived``), under Marquez's semantics.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

DERIVED = ("ol_edges", "ol_dataset_versions", "ol_datasets", "ol_runs", "ol_jobs")


def upgrade() -> None:
    with op.batch_alter_table("ol_jobs") as batch:
        batch.add_column(sa.Column("current_version", sa.String(36)))
        batch.add_column(sa.Column("current_run_id", sa.String(36)))
    with op.batch_alter_table("ol_runs") as batch:
        batch.add_column(sa.Column("job_facets", sa.JSON))
        batch.add_column(sa.Column("job_version", sa.String(36)))
    with op.batch_alter_table("ol_edges") as batch:
        batch.add_column(sa.Column("current", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("ol_dataset_versions") as batch:
        batch.add_column(sa.Column("fields", sa.JSON))
        batch.add_column(sa.Column("first_fields", sa.JSON))
    with op.batch_alter_table("ol_datasets") as batch:
        batch.add_column(sa.Column("source_name", sa.Text))
    op.create_index("ix_ol_jobs_created", "ol_jobs", ["created_at"])
    op.create_index("ix_ol_datasets_created", "ol_datasets", ["created_at"])
    op.create_index("ix_ol_runs_job_updated", "ol_runs", ["job_namespace", "job_name", "updated_at"])
    op.create_table(
        "ol_run_versions",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("direction", sa.String(3), primary_key=True),
        sa.Column("namespace", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(1024), primary_key=True),
        sa.Column("version", sa.String(255), primary_key=True),
        sa.Column("facets", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ol_column_lineage",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("namespace", sa.String(512), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("version", sa.String(255), nullable=False),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("input_namespace", sa.String(512), nullable=False),
        sa.Column("input_name", sa.String(1024), nullable=False),
        sa.Column("input_version", sa.String(255), nullable=False),
        sa.Column("input_field", sa.Text, nullable=False),
        sa.Column("transformation_description", sa.Text),
        sa.Column("transformation_type", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ol_column_lineage_output", "ol_column_lineage", ["namespace", "name"])
    op.create_index("ix_ol_column_lineage_input", "ol_column_lineage", ["input_namespace", "input_name"])
    op.create_table(
        "ol_sources",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ol_sources_created", "ol_sources", ["created_at"])
    for table in DERIVED:
        op.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 - constant table names
    ol_sync = sa.table("ol_sync", sa.column("source", sa.String), sa.column("watermark", sa.Float))
    op.execute(ol_sync.delete().where(ol_sync.c.source == "rebuild"))
    op.bulk_insert(ol_sync, [{"source": "rebuild", "watermark": 0.0}])


def downgrade() -> None:
    ol_sync = sa.table("ol_sync", sa.column("source", sa.String))
    op.execute(ol_sync.delete().where(ol_sync.c.source == "rebuild"))
    for table in ("ol_sources", "ol_column_lineage", "ol_run_versions"):
        op.drop_table(table)
    op.drop_index("ix_ol_runs_job_updated", "ol_runs")
    op.drop_index("ix_ol_datasets_created", "ol_datasets")
    op.drop_index("ix_ol_jobs_created", "ol_jobs")
    with op.batch_alter_table("ol_datasets") as batch:
        batch.drop_column("source_name")
    with op.batch_alter_table("ol_dataset_versions") as batch:
        batch.drop_column("first_fields")
        batch.drop_column("fields")
    with op.batch_alter_table("ol_edges") as batch:
        batch.drop_column("current")
    with op.batch_alter_table("ol_runs") as batch:
        batch.drop_column("job_version")
        batch.drop_column("job_facets")
    with op.batch_alter_table("ol_jobs") as batch:
        batch.drop_column("current_run_id")
        batch.drop_column("current_version")
