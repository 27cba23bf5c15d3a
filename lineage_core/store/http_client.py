"""The store client's HTTP: HTTP/1.1 (:mod:`.wire`) over one kept-alive connection per process.

A task's hit is one request (:meth:`RemoteStore.lookup_and_record`), so what the connection costs is what the hit
costs: no ``requests`` import on the hit path (≈ 50–600 ms in a fresh process), nor ``http.client``'s (7–22 ms: see
:mod:`.wire`), no new TCP (or TLS) handshake per call. Requests reuse the idle connection; a second thread that
calls while the first is in flight gets a connection of its own, kept idle afterwards (so a lease's heartbeat thread
does not queue behind a download).

Retries match what the store API allows: a request that cannot have been processed — no connection, a kept-alive
connection the server (or a proxy) closed before any answer came — is sent again on a new connection, and 502/503/504
(a gateway that never reached the server) are retried with backoff. A read timeout is never retried (a write may
have happened), nor is a certificate that failed verification. Every failure is one of our errors naming the server,
never the token.
"""

from __future__ import annotations

import json as jsonlib
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

from .. import settings
from ..errors import ConfigError, StoreError
from ..redact import redact_url
from . import wire

_JSON_TIMEOUT = 60.0  # seconds per socket operation (connect and each read)
_BLOB_TIMEOUT = 600.0
_IDLE_REUSE = 4.0  # seconds: uvicorn closes a kept-alive connection after 5 idle seconds; open a new one before
_MAX_IDLE = 8  # kept-alive connections kept (more only while that many threads call at once)
_GATEWAY = (502, 503, 504)
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_RETRIES = 4
_BACKOFF = 0.3
_STALE = (wire.Disconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class Response:
    """An answer: status, headers and the body (read in full unless streamed: then ``raw`` reads it)."""

    def __init__(self, raw: wire.Response, body: bytes | None, release: Any) -> None:
        self.raw = raw
        self.status_code = raw.status
        self.reason = raw.reason
        self.content = body if body is not None else b""
        self._release = release  # gives the connection back once the body is read (or drops it)

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def iter_content(self, chunk: int) -> Iterator[bytes]:
        while data := self.raw.read(chunk):
            yield data

    def close(self, reuse: bool | None = None) -> None:
        """Done with a streamed body: the connection is reused only when the body was read to its end."""
        if self._release is not None:
            release, self._release = self._release, None
            whole = self.raw.isclosed() and not self.raw.will_close  # read to its end: the connection is sound
            release(whole if reuse is None else reuse and whole)

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ServerClient:
    """The lineage server's store API over HTTP/1.1 keep-alive; ``call`` as the store methods use it."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{redact_url(url)} is not an http(s) URL of a lineage server")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self.base = f"{self.url}/api/v1/store"
        self._prefix = f"{parts.path.rstrip('/')}/api/v1/store"
        if _CONTROL.search(self._prefix + parts.netloc):  # they go into the request line and the Host header as given
            raise ConfigError(f"{redact_url(url)}: a lineage server's URL holds no spaces or control characters")
        self._headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "Accept-Encoding": "identity"}
        if token:
            if _CONTROL.search(token):  # a line break would end the header early: the rest would be a header of its own
                raise ConfigError(f"the token for {redact_url(url)} holds a space or a control character; check "
                                  f"{' or '.join(settings.STORE_TOKEN_ENVS)}")
            self._headers["Authorization"] = f"Bearer {token}"
        self._idle: list[tuple[wire.Connection, float]] = []
        self._lock = threading.Lock()
        self._ssl: Any = None
        self._proxy = _proxy(parts.scheme, self._host)
        self.requests = 0  # sent by this client (tests and benchmarks read it; the server counts its own)

    # -- connections -------------------------------------------------------------------------------
    def _connect(self, timeout: float) -> wire.Connection:
        """A new connection (TLS for https, through the environment's proxy when one is named)."""
        if self._https and self._ssl is None:
            import ssl

            ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")  # what requests honoured
            self._ssl = ssl.create_default_context(cafile=ca or None)
        if self._proxy and self._https:
            return wire.Connection(self._host, self._port, timeout, tls=self._ssl, tunnel_via=self._proxy)
        host, port = self._proxy or (self._host, self._port)
        return wire.Connection(host, port, timeout, tls=self._ssl if self._https else None)

    def _take(self, timeout: float) -> tuple[wire.Connection, bool]:
        """An idle connection (reused: True) or a new one."""
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since < _IDLE_REUSE:
                    conn.settimeout(timeout)
                    return conn, True
                conn.close()
        return self._connect(timeout), False

    def _give_back(self, conn: wire.Connection, reuse: bool) -> None:
        if not reuse:
            conn.close()
            return
        with self._lock:
            if len(self._idle) < _MAX_IDLE:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    # -- requests ----------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204), json: Any = None,
             data: Any = None, params: dict[str, Any] | None = None, stream: bool = False) -> Response:
        target = self._prefix + path
        if params:
            target += "?" + urllib.parse.urlencode(params)
        if self._proxy and not self._https:
            target = f"http://{self._headers['Host']}{target}"
        headers = dict(self._headers)
        body: Any = None
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            body = data
            if hasattr(data, "fileno"):
                headers["Content-Length"] = str(os.fstat(data.fileno()).st_size)
        timeout = _BLOB_TIMEOUT if path.startswith("/blobs/") else _JSON_TIMEOUT
        r = self._send(method, target, body, headers, timeout, stream)
        if r.status_code in ok:
            return r
        if stream:
            r.content = r.raw.read(64 << 10)
            r.close(False)
        message = _message(r)
        if r.status_code in (401, 403):
            raise ConfigError(f"lineage server {redact_url(self.url)} refused the request ({r.status_code}: "
                              f"{message}); set its token in {' or '.join(settings.STORE_TOKEN_ENVS)}")
        if r.status_code == 404 and path == "":
            raise ConfigError(f"{redact_url(self.url)} has no store API (/api/v1/store): is it a lineage server?")
        raise StoreError(f"lineage server {redact_url(self.url)}: {method} {path or '/'} failed "
                         f"({r.status_code}: {message})")

    def _send(self, method: str, target: str, body: Any, headers: dict[str, str], timeout: float,
              stream: bool) -> Response:
        rewind = body.tell() if hasattr(body, "seek") else None
        attempt = 0
        while True:
            attempt += 1
            try:
                conn, reused = self._take(timeout)
            except OSError as e:  # no connection (refused, unresolvable, timed out): nothing was sent
                if attempt <= _RETRIES and not isinstance(e, ValueError):  # a refused certificate (ssl's) stays so
                    time.sleep(_BACKOFF * 2 ** (attempt - 1))
                    continue
                raise self._unreachable(e) from None
            try:
                if rewind is not None:
                    body.seek(rewind)
                conn.request(method, target, body, headers)
                self.requests += 1
                raw = conn.getresponse()
                if raw.status in _GATEWAY and attempt <= _RETRIES:
                    raw.read()
                    self._give_back(conn, not raw.will_close)
                    time.sleep(_BACKOFF * 2 ** (attempt - 1))
                    continue
                if stream:
                    return Response(raw, None, lambda reuse, c=conn: self._give_back(c, reuse))
                content = raw.read()
            except _STALE as e:
                conn.close()
                if reused and attempt <= _RETRIES:  # the kept-alive connection was closed under us: not processed
                    continue
                raise self._unreachable(e) from None
            except OSError as e:  # a read timeout or a malformed answer too: a write may have happened
                conn.close()
                raise self._unreachable(e) from None
            self._give_back(conn, not raw.will_close)
            return Response(raw, content, None)

    def _unreachable(self, e: BaseException) -> StoreError:
        return StoreError(f"lineage server {redact_url(self.url)} is unreachable: {type(e).__name__}: "
                          f"{redact_url(str(e))}")


def _message(r: Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:200] or r.reason
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body)[:500]
    return str(body)[:500]


def _proxy(scheme: str, host: str) -> tuple[str, int] | None:
    """The proxy the environment names for this server (``HTTP(S)_PROXY``, ``NO_PROXY``), as requests used it;
    urllib's parser is imported only when a proxy variable is set."""
    if not any(k.lower() in (f"{scheme}_proxy", "all_proxy") for k in os.environ):
        return None
    from urllib.request import getproxies, proxy_bypass

    proxy = getproxies().get(scheme) or getproxies().get("all")
    if not proxy or proxy_bypass(host):
        return None
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return (parts.hostname or "", parts.port or 80) if parts.hostname else None
