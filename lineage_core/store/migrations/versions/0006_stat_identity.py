"""The local stat cache records the file's full identity: device and ctime_ns next to inode, size and
mtime_ns (ctime cannot be set with utime, so an in-place rewrite with the mtime restored still shows).
Both are nullable: rows written before this revision have none and are a miss (re-hashed), never trusted.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("stat_cache") as batch:
        batch.add_column(sa.Column("device", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("ctime_ns", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stat_cache") as batch:
        batch.drop_column("ctime_ns")
        batch.drop_column("device")
