"""Tags: a named pointer per job at one run (``run_tags``), and the history of every move (``run_tag_history``).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "run_tags",
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_run_tags_run", "run_tags", ["run_id"])
    op.create_table(
        "run_tag_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("from_run_id", sa.String(36)),
        sa.Column("to_run_id", sa.String(36), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
    )
    op.create_index("ix_run_tag_history_tag", "run_tag_history", ["job_id", "name", "id"])


def downgrade() -> None:
    op.drop_table("run_tag_history")
    op.drop_table("run_tags")
