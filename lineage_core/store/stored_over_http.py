"""How an artifact was stored, asked of a lineage server (``GET /api/v1/store/artifacts/{digest}``): the
:meth:`~lineage_core.store.protocol.CacheStore.stored_artifact` of :class:`~lineage_core.store.remote.RemoteStore`,
which reading a past run's result back needs (lineage_core.load) and the cache path does not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import StoreError
from ..redact import redact_url
from .protocol import StoredArtifact

if TYPE_CHECKING:
    from .http_client import ServerClient


class StoredOverHttp:
    """Mixed into RemoteStore, whose ``client`` it calls."""

    client: ServerClient

    def stored_artifact(self, digest: str) -> StoredArtifact | None:
        r = self.client.call("GET", f"/artifacts/{digest}", ok=(200, 404))
        if r.status_code == 404:
            return None
        d = r.json()
        size = d.get("size")
        if not isinstance(d.get("materializer"), str) or not (size is None or (type(size) is int and size >= 0)):
            raise StoreError(f"lineage server {redact_url(self.client.url)} does not say how artifact {digest} was "
                             "stored: is it a lineage server of this version?")
        return StoredArtifact(digest, d["materializer"], d.get("meta") or {}, size)
