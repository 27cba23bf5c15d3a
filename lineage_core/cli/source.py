"""What the ``lineage`` commands ask of a store, and the two that answer: the store's database
(:class:`LocalSource`) and a lineage server over HTTP (:class:`~.server_source.ServerSource`, when
``LINEAGE_STORE_URL`` is an http(s) URL and the token is in ``LINEAGE_STORE_TOKEN``).

Each command is written once, against :class:`Source`; the answers are plain JSON-shaped data, the same from
either side (the server's routes call what :class:`LocalSource` calls), so a command prints the same whichever
answered. Reads go through the server's read API (scope ``read``), invalidate, gc and pins through its admin API
(scope ``admin``, each write in its audit trail). On the database, the same writes are rows of the same audit
trail, under the token name ``cli:<OS user>``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .. import settings
from .output import no_lineage

if TYPE_CHECKING:
    from ..openlineage.graph import NodeId
    from ..store import Store

log = logging.getLogger("lineage_core.cli")
T = TypeVar("T")


class Source(Protocol):
    def runs(self, job: str | None, limit: int) -> list[dict[str, Any]]:
        """Run rows, newest first, each with its ``metrics`` (:func:`~lineage_core.metrics.run_metrics`)."""

    def run(self, run_id: str) -> dict[str, Any]:
        """One run (id or unique prefix) with its key manifest under ``manifest`` and its ``metrics``;
        RunNotFoundError if none."""

    def environment(self, run_id: str) -> dict[str, Any] | None:
        """The environment snapshot the run recorded (``EnvironmentSnapshot.to_dict()``), None if it recorded none;
        RunNotFoundError for an unknown run."""

    def diff(self, run_a: str, run_b: str) -> dict[str, Any]:
        """:class:`~lineage_core.diff.RunDiff` as a dict."""

    def entries(self, job: str | None) -> list[dict[str, Any]]:
        """Cache entries, newest first (tombstoned ones too)."""

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's OpenLineage RunEvents."""

    def lineage(self, node: NodeId, depth: int) -> dict[str, Any]:
        """The Marquez-shaped graph around ``node``, as ``GET /api/v1/lineage`` answers the UI;
        :func:`~.output.no_lineage` when no event named the node."""

    def audit(self, token: str | None, action: str | None, since: float | None, limit: int) -> list[dict[str, Any]]:
        """Audit rows, newest first."""

    def prune_audit(self, older_than: str) -> int:
        """Remove audit rows older than the duration (``90d``); how many went. The removal is itself a row."""

    def savings(self, since: float | None, by: str) -> dict[str, Any]:
        """What the cache saved since then (epoch seconds; None: ever), grouped ``by`` job, namespace or model:
        :class:`~lineage_core.store.savings.SavingsReport` as a dict."""

    def invalidate(self, key: str | None, job: str | None) -> int:
        """How many entries were invalidated."""

    def gc(self, older_than: str | None, keep_last: int | None, grace: str, dry_run: bool) -> dict[str, Any]:
        """The :class:`~lineage_core.retention.GcReport` as a dict, with the plan under ``plan`` for a dry run."""

    def pin(self, run_id: str, note: str | None) -> str:
        """The full id of the pinned run."""

    def unpin(self, run_id: str) -> str:
        """The full id of the unpinned run."""

    def tags(self, job: str | None, run_id: str | None) -> list[dict[str, Any]]:
        """Current tags (:class:`~lineage_core.store.tags.Tag` dicts), most recently moved first."""

    def tag_history(self, job: str, name: str) -> list[dict[str, Any]]:
        """Every move of a tag (:class:`~lineage_core.store.tags.TagMove` dicts), newest first; RunNotFoundError
        for a tag never set."""

    def move_tag(self, run_id: str, name: str, job: str | None, action: str) -> dict[str, Any]:
        """Point a tag at a run (``action``: tag | rollback); the move as a TagMove dict."""


def open_source() -> Source:
    """The source ``LINEAGE_STORE_URL`` names: a lineage server (with the store token), else the database."""
    url = settings.store_url()
    if settings.is_server_url(url):
        from .server_source import ServerSource

        return ServerSource(url, settings.store_token())
    from .output import open_store

    return LocalSource(open_store())


class LocalSource:
    """The store's database, read and changed directly (what the server's routes do on its side)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def runs(self, job: str | None, limit: int) -> list[dict[str, Any]]:
        from ..metrics import with_run_metrics

        return with_run_metrics(self.store, self.store.runs(job=job, limit=limit))

    def run(self, run_id: str) -> dict[str, Any]:
        from ..metrics import run_metrics

        run = self.store.get_run(run_id)
        return {**run, "manifest": self.store.manifest(run["cache_key"]) if run["cache_key"] else None,
                "metrics": run_metrics(self.store, run)}

    def environment(self, run_id: str) -> dict[str, Any] | None:
        run = self.store.get_run(run_id)
        env = self.store.get_environment(run["environment_hash"]) if run["environment_hash"] else None
        return env.to_dict() if env is not None else None

    def diff(self, run_a: str, run_b: str) -> dict[str, Any]:
        from ..diff import diff_runs

        return diff_runs(self.store, run_a, run_b).to_dict()

    def entries(self, job: str | None) -> list[dict[str, Any]]:
        return self.store.entries(job=job)

    def events(self, run_id: str) -> list[dict[str, Any]]:
        from ..openlineage.records import run_events

        return run_events(self.store, run_id)

    def lineage(self, node: NodeId, depth: int) -> dict[str, Any]:
        from ..openlineage.graph import exists, lineage
        from ..openlineage.sync import sync_runs

        sync_runs(self.store)  # our runs join the lineage tables, as the server's read path does
        if not exists(self.store, node):  # the server's 404
            raise no_lineage(node)
        return lineage(self.store, node, depth=depth)

    def audit(self, token: str | None, action: str | None, since: float | None, limit: int) -> list[dict[str, Any]]:
        from ..store.audit import AuditLog

        return [r.to_dict() for r in AuditLog(self.store).query(token, action, since, limit)]

    def savings(self, since: float | None, by: str) -> dict[str, Any]:
        from ..store.savings import savings

        return savings(self.store, since=since, by=by).to_dict()

    def _audited(self, action: str, command: str, target: str | None, write: Callable[[], T]) -> T:
        """``write``, recorded in the audit trail as the server records its admin routes (refusals too)."""
        from ..errors import LineageError, RunNotFoundError
        from ..store.audit import AuditLog, AuditRecord
        from ..tags import who

        status = 500
        try:
            value = write()
            status = 200
            return value
        except RunNotFoundError:
            status = 404
            raise
        except LineageError:
            status = 400
            raise
        finally:
            try:
                AuditLog(self.store).record(AuditRecord(f"cli:{who()}", action, f"CLI lineage {command}", status,
                                                        target))
            except Exception as e:  # noqa: BLE001 - the write is done (or refused); say the row is missing
                log.error("audit row not recorded for lineage %s: %s", command, type(e).__name__)

    def prune_audit(self, older_than: str) -> int:
        import time

        from ..retention import parse_duration
        from ..store.audit import AuditLog

        before = time.time() - parse_duration(older_than)
        return self._audited("prune_audit", "audit prune", f"older_than={older_than}",
                             lambda: AuditLog(self.store).prune(before))

    def invalidate(self, key: str | None, job: str | None) -> int:
        target = f"key={key}" if key else f"job={job}" if job else None
        return self._audited("invalidate", "cache invalidate", target,
                             lambda: self.store.invalidate(key=key, job=job))

    def gc(self, older_than: str | None, keep_last: int | None, grace: str, dry_run: bool) -> dict[str, Any]:
        from ..retention import apply_plan, parse_duration, plan_garbage

        plan = plan_garbage(self.store, older_than=parse_duration(older_than) if older_than else None,
                            keep_last=keep_last, grace=parse_duration(grace))
        if dry_run:
            return {**plan.report().to_dict(), "plan": plan.to_dict()}
        return self._audited("gc", "cache gc", None, lambda: apply_plan(self.store, plan).to_dict())

    def pin(self, run_id: str, note: str | None) -> str:
        from ..retention import pin

        return self._audited("pin", "pin", f"run_id={run_id}", lambda: pin(self.store, run_id, note))

    def unpin(self, run_id: str) -> str:
        from ..retention import unpin

        return self._audited("unpin", "unpin", f"run_id={run_id}", lambda: unpin(self.store, run_id))

    def tags(self, job: str | None, run_id: str | None) -> list[dict[str, Any]]:
        from ..tags import tags

        return [t.to_dict() for t in tags(self.store, job, run_id)]

    def tag_history(self, job: str, name: str) -> list[dict[str, Any]]:
        from ..tags import history

        return [m.to_dict() for m in history(self.store, job, name)]

    def move_tag(self, run_id: str, name: str, job: str | None, action: str) -> dict[str, Any]:
        from ..tags import move_tag

        return self._audited("move_tag", action, f"run={run_id} tag={name}",
                             lambda: move_tag(self.store, run_id, name, job, action=action).to_dict())
