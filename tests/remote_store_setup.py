"""What the remote store's test modules share: the server they run (the ``remote`` fixture, in conftest.py: a real
`lineage serve` off loopback with a token, on both database backends, as this test process's cache store, which then
holds only the server's URL and the token, as a KFP or Kubernetes pod does) and how they count its requests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lineage_core import runtime
from lineage_core.store import Store

from .services.lineage_server import Server

TOKEN = "s3cr3t-t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Remote:
    server: Server
    db_url: str
    home: Path  # the server's LINEAGE_HOME: its artifacts live here
    client_home: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def db(self) -> Store:
        """The server's own store, opened directly, to check what the API wrote."""
        return Store.from_url(self.db_url, (self.home / "artifacts").as_uri())

    def blobs(self) -> list[Path]:
        return sorted(p for p in (self.home / "artifacts" / "blobs").rglob("*") if p.is_file())


def fresh_process() -> None:
    """Forget the open stores, as a new task's process would start without them."""
    for store in list(runtime._stores.values()):
        store.close()
    runtime._stores.clear()
    runtime._store_by_env.clear()


def store_requests(remote: Remote) -> dict[tuple[str, str], float]:
    """Requests the server answered on its store routes, by (method, route template), from its /metrics."""
    from .test_metrics import scrape

    samples = scrape(remote.server, TOKEN).items()
    return {(dict(labels)["method"], dict(labels)["route"]): v for (name, labels), v in samples
            if name == "lineage_http_request_duration_seconds_count" and "/api/v1/store" in dict(labels)["route"]}


def delta(after: dict[tuple[str, str], float], before: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
