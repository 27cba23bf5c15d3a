"""Tables of the metadata store (SQLAlchemy Core; Alembic migrations create them).

Timestamps are epoch seconds (float): portable between SQLite and PostgreSQL and cheap to compare
for ``max_age`` lookups. Manifests, environments and reasons are JSON documents.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(255), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("namespace", "name", name="uq_jobs_namespace_name"),
)

environments = sa.Table(
    "environments",
    metadata,
    sa.Column("hash", sa.String(80), primary_key=True),
    sa.Column("snapshot", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # RUNNING COMPLETED CACHED FAILED
    sa.Column("cache_key", sa.String(80)),
    sa.Column("source_run_id", sa.String(36)),  # on a hit: the run that produced the value
    sa.Column("environment_hash", sa.String(80), sa.ForeignKey("environments.hash")),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("reasons", sa.JSON),  # plain-language miss reasons (or the hit's provenance)
    sa.Column("context", sa.JSON),  # who ran it: plain python, an Airflow task, a KFP task
    sa.Column("error", sa.Text),
    sa.Index("ix_runs_job_started", "job_id", "started_at"),
    sa.Index("ix_runs_cache_key", "cache_key"),
    sa.Index("ix_runs_started", "started_at"),
    sa.Index("ix_runs_ended", "ended_at"),
)

manifests = sa.Table(
    "key_manifests",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("manifest", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_key_manifests_job_created", "job_id", "created_at"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("hash", sa.String(80), primary_key=True),  # content hash of the stored bytes
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("materializer", sa.String(64), nullable=False),
    sa.Column("meta", sa.JSON),
    sa.Column("created_at", sa.Float, nullable=False),
)

cache_entries = sa.Table(
    "cache_entries",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("artifact_hash", sa.String(80), sa.ForeignKey("artifacts.hash"), nullable=False),
    sa.Column("value_hash", sa.String(80)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("tombstoned_at", sa.Float),
    sa.Index("ix_cache_entries_job", "job_id"),
)

stat_cache = sa.Table(
    "stat_cache",
    metadata,
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("inode", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(80), nullable=False),
    sa.Column("schema", sa.Integer, nullable=False),
    sa.Column("device", sa.BigInteger),  # NULL (rows from before 0006): a miss, never trusted
    sa.Column("ctime_ns", sa.BigInteger),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("owner", sa.String(36), nullable=False),  # the run id computing the key
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

pins = sa.Table(
    "pins",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("note", sa.Text),
)

remote_stat = sa.Table(
    "remote_stat",
    metadata,
    sa.Column("uri", sa.Text, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("etag", sa.String(255), nullable=False),  # a change detector only, never a content hash
    sa.Column("version", sa.String(255), nullable=False),  # S3 VersionId / GCS generation ("" if none)
    sa.Column("hash", sa.String(80), nullable=False),
    sa.Column("schema", sa.Integer, nullable=False),
)

# -- OpenLineage ingest (any producer): raw events are the source of truth, the rest is derived ----
ol_events = sa.Table(
    "ol_events",
    metadata,
    sa.Column("id", sa.String(80), primary_key=True),  # hash of the canonical event: ingest is idempotent
    sa.Column("kind", sa.String(16), nullable=False),  # RunEvent | JobEvent | DatasetEvent
    sa.Column("event_type", sa.String(16)),
    sa.Column("run_id", sa.String(36)),
    sa.Column("job_namespace", sa.String(512)),
    sa.Column("job_name", sa.String(1024)),
    sa.Column("event_time", sa.Float, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
)

ol_jobs = sa.Table(
    "ol_jobs",
    metadata,
    sa.Column("namespace", sa.String(512), primary_key=True),
    sa.Column("name", sa.String(1024), primary_key=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("parent_namespace", sa.String(512)),
    sa.Column("parent_name", sa.String(1024)),
    sa.Column("facets", sa.JSON, nullable=False),
    sa.Column("latest_run_id", sa.String(36)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("current_version", sa.String(36)),  # Marquez's job version UUID of its latest finished run
    sa.Column("current_run_id", sa.String(36)),  # the run its graph node shows (a child job: its parent's run)
    # set when a child's event last wrote the job (as Marquez makes a parent job): the child's location, "" for none
    sa.Column("made_location", sa.Text),
    sa.Index("ix_ol_jobs_created", "created_at"),
)

ol_runs = sa.Table(
    "ol_runs",
    metadata,
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
    sa.Column("job_facets", sa.JSON),  # the job facets of this run's events, merged
    sa.Column("job_version", sa.String(36)),  # set when the run finishes (Marquez's job version UUID)
    sa.Column("nominal_start_time", sa.Float),  # a parent run Marquez made from a child's event: its nominal times
    sa.Column("nominal_end_time", sa.Float),
    sa.Index("ix_ol_runs_job_updated", "job_namespace", "job_name", "updated_at"),
)

ol_datasets = sa.Table(
    "ol_datasets",
    metadata,
    sa.Column("namespace", sa.String(512), primary_key=True),
    sa.Column("name", sa.String(1024), primary_key=True),
    sa.Column("facets", sa.JSON, nullable=False),
    sa.Column("current_version", sa.String(255)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("source_name", sa.Text),  # the data source the first event that named it gave (Marquez's sourceName)
    sa.Index("ix_ol_datasets_created", "created_at"),
)

ol_dataset_versions = sa.Table(
    "ol_dataset_versions",
    metadata,
    sa.Column("namespace", sa.String(512), primary_key=True),
    sa.Column("name", sa.String(1024), primary_key=True),
    sa.Column("version", sa.String(255), primary_key=True),
    sa.Column("run_id", sa.String(36)),
    sa.Column("facets", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("fields", sa.JSON),  # every schema field any event of this version named, first seen first
    sa.Column("first_fields", sa.JSON),  # the fields of the event that made it (Marquez's dataset_versions.fields)
)

ol_edges = sa.Table(
    "ol_edges",
    metadata,
    sa.Column("job_namespace", sa.String(512), primary_key=True),
    sa.Column("job_name", sa.String(1024), primary_key=True),
    sa.Column("dataset_namespace", sa.String(512), primary_key=True),
    sa.Column("dataset_name", sa.String(1024), primary_key=True),
    sa.Column("direction", sa.String(3), primary_key=True),  # "in": dataset -> job, "out": job -> dataset
    sa.Column("last_run_id", sa.String(36)),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("current", sa.Boolean, nullable=False, server_default=sa.false()),  # of the job's current version
)

# A dataset version a run read ("in") or wrote ("out"), with the run's input or output facets for it.
ol_run_versions = sa.Table(
    "ol_run_versions",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("direction", sa.String(3), primary_key=True),
    sa.Column("namespace", sa.String(512), primary_key=True),
    sa.Column("name", sa.String(1024), primary_key=True),
    sa.Column("version", sa.String(255), primary_key=True),
    sa.Column("facets", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

# Column lineage: one row per (output field of a dataset version, input field of a version it was made from);
# keyed by a hash of the eight names (field names are unbounded: no index row could hold them all).
ol_column_lineage = sa.Table(
    "ol_column_lineage",
    metadata,
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
    sa.Index("ix_ol_column_lineage_output", "namespace", "name"),
    sa.Index("ix_ol_column_lineage_input", "input_namespace", "input_name"),
)

# Data sources (a dataset's ``dataSource`` facet name, else "default"), first seen: the dashboard counts them.
ol_dataset_symlinks = sa.Table(  # Marquez's dataset_symlinks: a dataset a ``symlinks`` facet names is another name
    "ol_dataset_symlinks",  # of the dataset that carried it (the first to name it keeps it)
    metadata,
    sa.Column("namespace", sa.String(512), primary_key=True),
    sa.Column("name", sa.String(1024), primary_key=True),
    sa.Column("target_namespace", sa.String(512), nullable=False),
    sa.Column("target_name", sa.String(1024), nullable=False),
    sa.Column("type", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_ol_dataset_symlinks_target", "target_namespace", "target_name"),
)

ol_sources = sa.Table(
    "ol_sources",
    metadata,
    sa.Column("id", sa.String(80), primary_key=True),  # hash of the name (names are unbounded)
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_ol_sources_created", "created_at"),
)

ol_sync = sa.Table(
    "ol_sync",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),  # "runs": our own runs, ingested as events
    sa.Column("watermark", sa.Float, nullable=False),
)

# -- the server's audit trail: who (a token's name, never the token) wrote what, when, with what outcome ----
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("token", sa.String(64), nullable=False),  # the token's name, "anonymous" or "invalid-token"
    sa.Column("action", sa.String(64), nullable=False),  # the route's name: put_entry, post_lineage, gc, …
    sa.Column("route", sa.String(255), nullable=False),  # method and path template
    sa.Column("target", sa.String(1024)),  # the key, run, digest… the write named
    sa.Column("namespace", sa.String(1024)),  # the namespaces it touched, comma-separated (when known)
    sa.Column("status", sa.Integer, nullable=False),  # the HTTP status answered
    sa.Column("outcome", sa.String(16), nullable=False),  # ok | denied | refused | error
    sa.Index("ix_audit_at", "at"),
    sa.Index("ix_audit_token_at", "token", "at"),
    sa.Index("ix_audit_action_at", "action", "at"),
)

# -- what each of our runs read and wrote, recorded when the run is written: history that invalidate and gc of
# cache entries never rewrite (a past run's events are rebuilt from these rows, not from the live cache) ----
run_datasets = sa.Table(
    "run_datasets",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("direction", sa.String(3), primary_key=True),  # "in" | "out"
    sa.Column("position", sa.Integer, primary_key=True),  # order within the direction
    sa.Column("location", sa.Text, nullable=False),  # absolute path or URL: the dataset's OpenLineage name source
    sa.Column("version", sa.String(80)),  # content hash of the bytes (the dataset version)
    sa.Column("content", sa.String(80)),  # the hash an argument carrying this value has: how hand-offs link
    sa.Column("fields", sa.JSON),  # [[name, type], ...] for tabular data
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_run_datasets_content", "content", "direction"),
)

# -- tags: a named pointer per job (``prod``, ``baseline``) at one run, and every move of it ever made --------
run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("run_id", sa.String(36), nullable=False),  # the run it points at (pinned against gc while it does)
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),  # a token's name or the OS user, never a secret
    sa.Index("ix_run_tags_run", "run_id"),
)

run_tag_history = sa.Table(
    "run_tag_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("from_run_id", sa.String(36)),  # None: the tag's first move
    sa.Column("to_run_id", sa.String(36), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("by", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # tag | rollback
    sa.Index("ix_run_tag_history_tag", "job_id", "name", "id"),
)
