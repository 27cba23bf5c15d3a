"""Names with slashes in URL paths.

The Marquez web UI ``encodeURIComponent``s every namespace and name, so ``s3://lake`` arrives as
``s3%3A%2F%2Flake``; the ASGI server decodes the path before routing, and the slashes inside a
segment would then split it. This middleware rebuilds ``path`` from ``raw_path`` segment by segment,
keeping ``/`` (and ``%``) inside a segment encoded; :func:`segment` decodes a path parameter.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

PREFIX = b"/api/v1/"


def segment(value: str) -> str:
    """A path parameter as the client named it (undo :class:`EncodedSegments`)."""
    return unquote(value)


def routed(scope: Any) -> Any:
    """The request scope with ``path`` as routing sees it: rebuilt from ``raw_path``, slashes inside a segment kept
    encoded."""
    raw = scope.get("raw_path") if scope["type"] == "http" else None
    if raw and raw.startswith(PREFIX) and b"%" in raw:
        path = raw.split(b"?", 1)[0].decode("latin-1")
        parts = [quote(unquote(p), safe=":@!$&'()*+,;=-._~ ") for p in path.split("/")]
        return {**scope, "path": "/".join(parts)}
    return scope


class EncodedSegments:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(routed(scope), receive, send)
