"""The ``lineage`` commands' :class:`~.source.Source` on a lineage server: its read API (``/api/v1/runs``,
``/api/v1/cache``, ``/api/v1/runs/diff``, ``/api/v1/lineage``) with a ``read`` token, its admin API
(``/api/v1/admin/...``, ``/api/v1/audit``) with an ``admin`` one.

Every failure is one line that names the server (never the token): no answer is a :class:`StoreError`; a 401 or
403 is :class:`ServerRefused` (the CLI exits 3) with the server's reason — which scope the token lacks, or that
it needs one; a 404 for a run is the :class:`RunNotFoundError` a local store raises, with the same words; a route
the server does not have says so; any other refusal is a :class:`ConfigError` with the server's message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import settings
from ..errors import ConfigError, LineageError, RunNotFoundError, StoreError
from ..redact import redact_url
from .output import no_lineage

if TYPE_CHECKING:
    import requests

    from ..openlineage.graph import NodeId

_TIMEOUT = (10.0, 120.0)  # (connect, read) seconds
_GC_TIMEOUT = (10.0, 3600.0)  # a collection over a large store takes its time


class ServerRefused(LineageError, PermissionError):
    """The server refused the token (401: none or not valid; 403: without the scope, or outside its namespaces)."""


class ServerSource:
    def __init__(self, url: str, token: str | None) -> None:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        self.url = url.rstrip("/")
        self.session = requests.Session()
        # retried only when the server cannot have acted: no connection, or a gateway that never reached it
        retry = Retry(total=3, connect=3, read=0, status=2, backoff_factor=0.3, allowed_methods=None,
                      status_forcelist=(502, 503, 504), raise_on_status=False)
        for scheme in ("http://", "https://"):
            self.session.mount(scheme, HTTPAdapter(max_retries=retry))
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # -- reads (scope read) ----------------------------------------------------------------------
    def runs(self, job: str | None, limit: int) -> list[dict[str, Any]]:
        return list(self._call("GET", "/runs", params={"job": job, "limit": limit}))

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/runs/{quote(run_id, safe='')}", missing=RunNotFoundError))

    def environment(self, run_id: str) -> dict[str, Any] | None:
        run = self.run(run_id)  # an unknown run is RunNotFoundError; a run without an environment is None
        if not run["environment_hash"]:
            return None
        found = self._call("GET", f"/runs/{quote(run['id'], safe='')}/environment", missing=RunNotFoundError)
        return dict(found["environment"])

    def diff(self, run_a: str, run_b: str) -> dict[str, Any]:
        return dict(self._call("GET", "/runs/diff", params={"a": run_a, "b": run_b}, missing=RunNotFoundError))

    def entries(self, job: str | None) -> list[dict[str, Any]]:
        return list(self._call("GET", "/cache", params={"job": job}))

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/runs/{quote(run_id, safe='')}/events", missing=RunNotFoundError))

    def lineage(self, node: NodeId, depth: int) -> dict[str, Any]:
        return dict(self._call("GET", "/lineage", params={"nodeId": str(node), "depth": depth},
                               missing=lambda _: no_lineage(node)))

    def savings(self, since: float | None, by: str) -> dict[str, Any]:
        after = dt.datetime.fromtimestamp(since, dt.timezone.utc).isoformat() if since is not None else None
        return dict(self._call("GET", "/stats/savings", params={"since": after, "by": by}))

    # -- the admin API (scope admin) ---------------------------------------------------------------
    def audit(self, token: str | None, action: str | None, since: float | None, limit: int) -> list[dict[str, Any]]:
        after = dt.datetime.fromtimestamp(since, dt.timezone.utc).isoformat() if since is not None else None
        rows = self._call("GET", "/audit", params={"token": token, "action": action, "since": after, "limit": limit})
        return [{**r, "at": dt.datetime.fromisoformat(r["at"].replace("Z", "+00:00")).timestamp()}
                for r in rows["audit"]]

    def prune_audit(self, older_than: str) -> int:
        return int(self._call("POST", "/admin/audit/prune", json={"olderThan": older_than})["pruned"])

    def invalidate(self, key: str | None, job: str | None) -> int:
        return int(self._call("POST", "/admin/invalidate", json={"key": key, "job": job})["invalidated"])

    def gc(self, older_than: str | None, keep_last: int | None, grace: str, dry_run: bool) -> dict[str, Any]:
        body = {"olderThan": older_than, "keepLast": keep_last, "grace": grace, "dryRun": dry_run}
        return dict(self._call("POST", "/admin/gc", json=body, timeout=_GC_TIMEOUT))

    def pin(self, run_id: str, note: str | None) -> str:
        path = f"/admin/pins/{quote(run_id, safe='')}"
        return str(self._call("PUT", path, json={"note": note}, missing=RunNotFoundError)["pinned"])

    def unpin(self, run_id: str) -> str:
        path = f"/admin/pins/{quote(run_id, safe='')}"
        return str(self._call("DELETE", path, missing=RunNotFoundError)["unpinned"])

    # -- tags (reads: scope read; moves: scope admin) ----------------------------------------------
    def tags(self, job: str | None, run_id: str | None) -> list[dict[str, Any]]:
        return list(self._call("GET", "/run-tags", params={"job": job, "run": run_id}, missing=RunNotFoundError))

    def tag_history(self, job: str, name: str) -> list[dict[str, Any]]:
        return list(self._call("GET", "/run-tags/history", params={"job": job, "name": name},
                               missing=RunNotFoundError))

    def move_tag(self, run_id: str, name: str, job: str | None, action: str) -> dict[str, Any]:
        body = {"run": run_id, "name": name, "job": job, "action": action}
        return dict(self._call("PUT", "/admin/run-tags", json=body, missing=RunNotFoundError))

    # -- HTTP --------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
              missing: Callable[[str], LineageError] = ConfigError, timeout: tuple[float, float] = _TIMEOUT) -> Any:
        import requests

        where = redact_url(self.url)
        try:
            r = self.session.request(method, f"{self.url}/api/v1{path}", timeout=timeout, json=json,
                                     params={k: v for k, v in (params or {}).items() if v is not None})
        except requests.RequestException as e:
            raise StoreError(f"lineage server {where} is unreachable: {type(e).__name__}: "
                             f"{redact_url(str(e))}") from None
        if r.status_code < 300:
            try:
                return r.json()
            except ValueError:
                raise StoreError(f"lineage server {where}: {method} /api/v1{path} answered {r.status_code} "
                                 "without JSON: is it a lineage server?") from None
        message = _message(r)
        if r.status_code in (401, 403):
            hint = f"; set its token in {' or '.join(settings.STORE_TOKEN_ENVS)}" if r.status_code == 401 else ""
            raise ServerRefused(f"lineage server {where} refused {method} /api/v1{path.split('?')[0]} "
                                f"({r.status_code}: {message}){hint}")
        if r.status_code == 404 and message == "Not Found":  # no such route: FastAPI's words, not a route's
            raise ConfigError(f"lineage server {where} has no {method} /api/v1{path}: is it a lineage server of "
                              "this version?")
        if r.status_code == 404:
            raise missing(message)
        if r.status_code < 500:
            raise ConfigError(f"lineage server {where}: {message}")
        raise StoreError(f"lineage server {where}: {method} /api/v1{path} failed ({r.status_code}: {message})")


def _message(r: requests.Response) -> str:
    """The server's reason (Marquez's ``{code, message, details}``), bounded."""
    try:
        body = r.json()
    except ValueError:
        return (r.text[:200] or r.reason or "").strip()
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body)[:500]
    return str(body)[:500]
