"""Replay stored OpenLineage events — ours and every other producer's — to Marquez or any OpenLineage
HTTP endpoint, through openlineage-python's HTTP transport (its retries, auth and compression).

Events go in event-time order (START before the terminal event of the same instant), one request each
(Marquez has no batch endpoint), read from the store a page at a time so memory stays flat. Replay is
safe to repeat: an OpenLineage consumer merges events per run. A send that fails stops the export and
says how many went and from which event time to resume (``after=``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import LineageError
from ..store.ol_events import EventLog
from .sync import sync_runs

if TYPE_CHECKING:
    from ..store import Store

_PAGE = 1000


class ExportError(LineageError, ConnectionError):
    """The endpoint refused or could not be reached; ``sent`` events went before it failed."""

    def __init__(self, message: str, sent: int) -> None:
        self.sent = sent
        super().__init__(message)


@dataclass
class ExportResult:
    sent: int
    total: int


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()


def stored_events(store: Store, after: float | None = None) -> Iterator[tuple[float, dict[str, Any]]]:
    """(event time, payload) in replay order, read a page at a time."""
    return EventLog(store).replay(after, _PAGE)


def export_events(store: Store, url: str, endpoint: str = "api/v1/lineage", token: str | None = None,
                  after: float | None = None, progress: Callable[[int, int], None] | None = None) -> ExportResult:
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport, TokenProvider

    sync_runs(store)
    total = EventLog(store).count(after)
    auth = ApiKeyTokenProvider({"apiKey": token}) if token else TokenProvider({})
    transport = HttpTransport(HttpConfig(url=url, endpoint=endpoint, timeout=30.0, auth=auth))
    sent = 0
    for when, payload in stored_events(store, after):
        try:
            transport.emit(payload)  # type: ignore[arg-type]  # the transport serialises any JSON-able event
        except Exception as e:  # noqa: BLE001 - named in one line, with where to resume
            raise ExportError(f"{url} refused event {sent + 1} of {total} ({type(e).__name__}: {e}); "
                              f"{sent} sent; resume with --after {_iso(when)}", sent) from None
        sent += 1
        if progress:
            progress(sent, total)
    return ExportResult(sent, total)
