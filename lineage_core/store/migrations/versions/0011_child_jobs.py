"""Marquez's child jobs: a run with a ``parent`` facet belongs to the job ``<parent>.<child>`` in the child's
namespace, the parent job Marquez makes for it lives there too, with the child's type and location (a new column
of ``ol_jobs``), and the parent run it makes has the child's nominal times (two new columns of ``ol_runs``).

The derived rows of earlier revisions name child jobs as sent, so this revision marks the store for a rebuild: the
first ingest or read after the upgrade re-derives every table from the raw events
(``lineage_core.openlineage.ingest.ensure_derived``), which stay as they were sent.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def _rebuild() -> None:
    ol_sync = sa.table("ol_sync", sa.column("source", sa.String), sa.column("watermark", sa.Float))
    op.execute(ol_sync.delete().where(ol_sync.c.source == "rebuild"))
    op.bulk_insert(ol_sync, [{"source": "rebuild", "watermark": 0.0}])


def upgrade() -> None:
    with op.batch_alter_table("ol_runs") as batch:
        batch.add_column(sa.Column("nominal_start_time", sa.Float))
        batch.add_column(sa.Column("nominal_end_time", sa.Float))
    with op.batch_alter_table("ol_jobs") as batch:
        batch.add_column(sa.Column("made_location", sa.Text))
    _rebuild()


def downgrade() -> None:  # the derived rows name child jobs as this revision does: the older code re-derives them
    with op.batch_alter_table("ol_jobs") as batch:
        batch.drop_column("made_location")
    with op.batch_alter_table("ol_runs") as batch:
        batch.drop_column("nominal_end_time")
        batch.drop_column("nominal_start_time")
    _rebuild()
