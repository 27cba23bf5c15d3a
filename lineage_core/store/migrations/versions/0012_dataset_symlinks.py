"""Marquez's dataset symlinks: a dataset a ``symlinks`` facet names is another name of the dataset that carried it
(``ol_dataset_symlinks``). Stored events may carry such facets, so this revision marks the store for a rebuild
(``lineage_core.openlineage.ingest.ensure_derived``).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_table(
        "ol_dataset_symlinks",
        sa.Column("namespace", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(1024), primary_key=True),
        sa.Column("target_namespace", sa.String(512), nullable=False),
        sa.Column("target_name", sa.String(1024), nullable=False),
        sa.Column("type", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ol_dataset_symlinks_target", "ol_dataset_symlinks", ["target_namespace", "target_name"])
    ol_sync = sa.table("ol_sync", sa.column("source", sa.String), sa.column("watermark", sa.Float))
    op.execute(ol_sync.delete().where(ol_sync.c.source == "rebuild"))
    op.bulk_insert(ol_sync, [{"source": "rebuild", "watermark": 0.0}])


def downgrade() -> None:
    op.drop_index("ix_ol_dataset_symlinks_target", "ol_dataset_symlinks")
    op.drop_table("ol_dataset_symlinks")
