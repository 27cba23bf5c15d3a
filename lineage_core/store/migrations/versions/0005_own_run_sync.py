"""Our own runs flow into the OpenLineage tables: a watermark per source, and time indexes on runs
so the sync reads only what changed since the last one.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "ol_sync",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("watermark", sa.Float, nullable=False),
    )
    op.create_index("ix_runs_started", "runs", ["started_at"])
    op.create_index("ix_runs_ended", "runs", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_ended", "runs")
    op.drop_index("ix_runs_started", "runs")
    op.drop_table("ol_sync")
