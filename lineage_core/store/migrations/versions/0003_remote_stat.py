"""Change detector for remote inputs: URI -> (size, etag, version) and the content hash we computed.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "remote_stat",
        sa.Column("uri", sa.Text, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("etag", sa.String(255), nullable=False),
        sa.Column("version", sa.String(255), nullable=False),
        sa.Column("hash", sa.String(80), nullable=False),
        sa.Column("schema", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("remote_stat")
