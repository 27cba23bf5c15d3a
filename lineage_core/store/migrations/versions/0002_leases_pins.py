"""Leases for single-flight computation across processes and hosts; pins that retention never removes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("owner", sa.String(36), nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "pins",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("note", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("pins")
    op.drop_table("leases")
