"""What each run read and wrote, recorded with the run (history that invalidate and gc never rewrite).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "run_datasets",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("direction", sa.String(3), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("version", sa.String(80)),
        sa.Column("content", sa.String(80)),
        sa.Column("fields", sa.JSON),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_run_datasets_content", "run_datasets", ["content", "direction"])


def downgrade() -> None:
    op.drop_table("run_datasets")
