"""The SQL of tags: a named pointer per job (``prod``, ``baseline``) at one run, and every move ever made of it.

A tag lives in a job (``run_tags``: one row per job and name); ``JOB@NAME`` names the run it points at wherever a
run id is accepted (:meth:`TagTables.resolve`, called by ``Store.get_run``). Every move is one transaction that
writes the pointer and a history row (who, when, from which run, to which run), so the history is complete:
``lineage rollback`` reads it to find the previous run. Retention treats a tagged run as pinned (it reads
:func:`tagged_runs` in its snapshot). The policy (who may move a tag, what a name may be) is
:mod:`lineage_core.tags`'s; this module only reads and writes rows.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from ..errors import RunNotFoundError
from . import schema as t


class Store(Protocol):
    """What these tables need of the SQL store (not imported: the store resolves tags, so it imports this)."""

    engine: sa.Engine

    @property
    def url(self) -> str: ...

_tg, _th, _jb = t.run_tags.c, t.run_tag_history.c, t.jobs.c


@dataclass(frozen=True)
class Tag:
    namespace: str
    job: str
    name: str
    run_id: str
    updated_at: float
    updated_by: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TagMove:
    """One move of a tag: from which run (None: the tag's first), to which, when, by whom, and how."""

    namespace: str
    job: str
    name: str
    from_run_id: str | None
    to_run_id: str
    at: float
    by: str
    action: str  # tag | rollback

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_tag_ref(ref: str) -> bool:
    """``JOB@NAME`` (a run id never holds an ``@``)."""
    return "@" in ref


def tagged_runs(c: sa.Connection) -> set[str]:
    """Every run a tag points at now (retention's snapshot reads it on its own connection)."""
    return {r[0] for r in c.execute(sa.select(_tg.run_id))}


class TagTables:
    """Tag reads and moves on one store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def resolve(self, ref: str) -> str:
        """The run id ``JOB@NAME`` points at; RunNotFoundError naming the tag when none (or several: the same job
        name in two namespaces, with ``NAMESPACE:JOB@NAME`` to choose)."""
        job, _, name = ref.rpartition("@")
        found = self._find(job, name)
        if not found and ":" in job:
            namespace, _, bare = job.partition(":")
            found = self._find(bare, name, namespace)
        if not found:
            raise RunNotFoundError(f"no tag {name!r} on job {job!r} in store {self._store.url}")
        if len(found) > 1:
            spaces = ", ".join(sorted(ns for ns, _ in found))
            raise RunNotFoundError(f"tag {ref!r} is ambiguous: job {job!r} has it in namespaces {spaces}; "
                                   f"write NAMESPACE:{job}@{name}")
        return found[0][1]

    def _find(self, job: str, name: str, namespace: str | None = None) -> list[tuple[str, str]]:
        q = (sa.select(_jb.namespace, _tg.run_id).join(t.jobs, _jb.id == _tg.job_id)
             .where(_jb.name == job, _tg.name == name))
        if namespace is not None:
            q = q.where(_jb.namespace == namespace)
        with self._store.engine.connect() as c:
            return [(str(ns), str(run)) for ns, run in c.execute(q)]

    def move(self, job_id: int, name: str, run_id: str, by: str, action: str = "tag") -> TagMove:
        """Point the tag at ``run_id`` and record the move, in one transaction; returns the move."""
        now = time.time()
        with self._store.engine.begin() as c:
            current = c.execute(sa.select(_tg.run_id).where(_tg.job_id == job_id, _tg.name == name)
                                .with_for_update()).scalar()
            c.execute(t.run_tags.delete().where(_tg.job_id == job_id, _tg.name == name))
            c.execute(t.run_tags.insert().values(job_id=job_id, name=name, run_id=run_id, updated_at=now,
                                                 updated_by=by))
            c.execute(t.run_tag_history.insert().values(job_id=job_id, name=name, from_run_id=current,
                                                        to_run_id=run_id, at=now, by=by, action=action))
            namespace, job = c.execute(sa.select(_jb.namespace, _jb.name).where(_jb.id == job_id)).one()
        return TagMove(namespace, job, name, current, run_id, now, by, action)

    def tags(self, job: str | None = None, run_id: str | None = None) -> list[Tag]:
        """Current tags (of one job name, or pointing at one run), most recently moved first."""
        q = (sa.select(_jb.namespace, _jb.name, _tg.name, _tg.run_id, _tg.updated_at, _tg.updated_by)
             .join(t.jobs, _jb.id == _tg.job_id).order_by(_tg.updated_at.desc(), _jb.name, _tg.name))
        if job is not None:
            q = q.where(_jb.name == job)
        if run_id is not None:
            q = q.where(_tg.run_id == run_id)
        with self._store.engine.connect() as c:
            return [Tag(*r) for r in c.execute(q)]

    def history(self, job: str, name: str) -> list[TagMove]:
        """Every move of the tag ``name`` of jobs named ``job``, newest first."""
        q = (sa.select(_jb.namespace, _jb.name, _th.name, _th.from_run_id, _th.to_run_id, _th.at, _th.by, _th.action)
             .join(t.jobs, _jb.id == _th.job_id).where(_jb.name == job, _th.name == name)
             .order_by(_th.id.desc()))
        with self._store.engine.connect() as c:
            return [TagMove(*r) for r in c.execute(q)]
