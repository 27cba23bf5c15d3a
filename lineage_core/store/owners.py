"""Which namespace a job, a run or a cache key belongs to: what the server holds a namespace-limited token to.

Each answer is a set: empty when the store does not know the object (the route then answers for itself), and
for a run id prefix (the store API resolves prefixes of 6+ characters) the namespaces of every run it could
name. A job's namespace never changes, so job ids are remembered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import schema as t

if TYPE_CHECKING:
    from .metadata import Store

_REMEMBERED = 10_000


class Owners:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._jobs: dict[int, str] = {}

    def of_job(self, job_id: int) -> set[str]:
        if not 0 <= job_id < 2**31:  # jobs.id is a 32-bit integer: no such job (and no out-of-range query)
            return set()
        if job_id in self._jobs:
            return {self._jobs[job_id]}
        with self._store.engine.connect() as c:
            ns = c.execute(sa.select(t.jobs.c.namespace).where(t.jobs.c.id == job_id)).scalar()
        if ns is None:
            return set()
        if len(self._jobs) >= _REMEMBERED:
            self._jobs.clear()
        self._jobs[job_id] = ns
        return {ns}

    def of_run(self, run_id: str) -> set[str]:
        """Our runs (by id or id prefix, as the store API finds them, or by tag: ``JOB@NAME``) and ingested
        OpenLineage runs."""
        if "@" in run_id:
            from ..errors import RunNotFoundError
            from .tags import TagTables

            try:
                run_id = TagTables(self._store).resolve(run_id)
            except RunNotFoundError:
                return set()
        ours = (sa.select(t.jobs.c.namespace).join(t.runs, t.runs.c.job_id == t.jobs.c.id)
                .where(t.runs.c.id.startswith(run_id, autoescape=True)).limit(2))
        theirs = sa.select(t.ol_runs.c.job_namespace).where(t.ol_runs.c.run_id == run_id)
        with self._store.engine.connect() as c:
            return {*c.execute(ours).scalars(), *c.execute(theirs).scalars()}

    def of_key(self, key: str) -> set[str]:
        """The namespace of the key's entry and of its manifest's job (normally the same one)."""
        entry = sa.select(t.jobs.c.namespace).join(t.cache_entries, t.cache_entries.c.job_id == t.jobs.c.id)
        manifest = sa.select(t.jobs.c.namespace).join(t.manifests, t.manifests.c.job_id == t.jobs.c.id)
        with self._store.engine.connect() as c:
            return {*c.execute(entry.where(t.cache_entries.c.key == key)).scalars(),
                    *c.execute(manifest.where(t.manifests.c.key == key)).scalars()}
