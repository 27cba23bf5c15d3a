"""HTTP/1.1 on one socket, as the store client speaks it to the lineage server: what a pod's hit needs, no more.

Why not ``http.client``: importing it costs 7–22 ms in a fresh process (the ``email`` package for its headers,
the ``HTTPStatus`` enum, ``ssl`` even for plain http), which is more than a whole hit on the server store. This
module imports only ``socket`` (``ssl`` when the URL is https), and speaks the subset the store API uses:

* a request is its head and a body of bytes or a file (``Content-Length`` always: never chunked uploads);
* a response is framed by ``Transfer-Encoding: chunked``, ``Content-Length``, or the connection's end (then it is
  not kept alive); HEAD, 1xx, 204 and 304 answers have no body; interim 1xx answers are skipped;
* an https URL through a proxy goes through a ``CONNECT`` tunnel; a plain one names the absolute URL (the caller).

Anything else in an answer (a malformed status line or header, a head beyond the limits, a short body) is a
:class:`ProtocolError`; a connection closed before any byte of an answer is :class:`Disconnected`, which the
client retries on a new connection only when the request went out on a kept-alive one (it was not processed).
"""

from __future__ import annotations

import io
import socket
from typing import IO, Any

_MAX_LINE = 64 << 10  # bytes of a status or header line (as http.client)
_MAX_HEADERS = 100
_NO_BODY_STATUS = (204, 304)
_FILE_CHUNK = 1 << 20
_Lines = io.RawIOBase | io.BufferedIOBase  # what a head is read from (a buffered socket file; unbuffered for CONNECT)


class ProtocolError(OSError):
    """The answer is not HTTP/1.x this client can read (or it ended early): the request may have been processed."""


class Disconnected(ConnectionResetError):
    """The connection closed before any byte of an answer."""


class Response:
    """One answer: ``status``, ``reason``, ``headers`` (lower-case names) and its body, read with :meth:`read`."""

    def __init__(self, conn: Connection, method: str) -> None:
        self._file: io.BufferedReader = conn.file
        while True:
            self.version, self.status, self.reason = _status_line(self._file)
            self.headers = _headers(self._file)
            if not 100 <= self.status < 200:
                break
        connection = self.headers.get("connection", "").lower()
        self.will_close = "close" in connection or (self.version == "HTTP/1.0" and "keep-alive" not in connection)
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        self._left: int | None = None  # body bytes still to read (None: until the connection's end, or chunked)
        self._chunk_left = 0  # bytes left in the current chunk
        if method == "HEAD" or self.status in _NO_BODY_STATUS:
            self._left = 0
        elif not self._chunked:
            length = self.headers.get("content-length")
            if length is not None:
                if not length.strip().isdigit():
                    raise ProtocolError(f"bad Content-Length {length[:40]!r}")
                self._left = int(length)
            else:
                self.will_close = True  # the body ends with the connection
        self._done = self._left == 0

    def isclosed(self) -> bool:
        """The body has been read to its end."""
        return self._done

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of the body (all of what is left when ``n`` < 0); b"" at its end."""
        if self._done:
            return b""
        if self._chunked:
            return self._read_chunked(n)
        if self._left is None:  # until the connection closes
            data = self._file.read() if n < 0 else self._file.read1(n)
            if not data or n < 0:
                self._done = True
            return data
        want = self._left if n < 0 else min(n, self._left)
        data = self._file.read(want)
        if len(data) < want:
            raise ProtocolError(f"the answer's body ended after {len(data)} of {want} more bytes")
        self._left -= len(data)
        self._done = self._left == 0
        return data

    def _read_chunked(self, n: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        while n < 0 or got < n:
            if self._chunk_left == 0:
                size = _line(self._file).split(b";", 1)[0].strip()
                try:
                    self._chunk_left = int(size, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {size[:20]!r}") from None
                if self._chunk_left < 0:
                    raise ProtocolError("bad chunk size")
                if self._chunk_left == 0:  # the last chunk; then trailers, up to an empty line
                    _headers(self._file)
                    self._done = True
                    break
            want = self._chunk_left if n < 0 else min(n - got, self._chunk_left)
            data = self._file.read(want)
            if len(data) < want:
                raise ProtocolError("the answer's body ended inside a chunk")
            self._chunk_left -= len(data)
            if self._chunk_left == 0 and self._file.read(2) != b"\r\n":
                raise ProtocolError("a chunk does not end with CRLF")
            parts.append(data)
            got += len(data)
        return b"".join(parts)


class Connection:
    """One connection to ``host:port`` (TLS with ``tls``, through ``tunnel_via``'s CONNECT when given)."""

    def __init__(self, host: str, port: int, timeout: float, *, tls: Any = None,
                 tunnel_via: tuple[str, int] | None = None) -> None:
        self.sock = socket.create_connection(tunnel_via or (host, port), timeout)
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a small request is one segment
            if tunnel_via is not None:
                self._tunnel(host, port)
            if tls is not None:
                self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        except BaseException:
            self.sock.close()
            raise
        self.file: io.BufferedReader = self.sock.makefile("rb")
        self._method = "GET"

    def _tunnel(self, host: str, port: int) -> None:
        self.sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode("ascii"))
        file = self.sock.makefile("rb", buffering=0)  # unbuffered: nothing past the proxy's answer is read
        try:
            _, status, reason = _status_line(file)
            _headers(file)
        finally:
            file.close()  # the socket stays open (the file holds a reference, not the socket)
        if status != 200:
            raise OSError(f"the proxy refused to tunnel to {host}:{port} ({status} {reason})")

    def settimeout(self, timeout: float) -> None:
        self.sock.settimeout(timeout)

    def request(self, method: str, target: str, body: bytes | IO[bytes] | None, headers: dict[str, str]) -> None:
        """Send a request (then :meth:`getresponse` reads its answer's head)."""
        self._method = method
        lines = [f"{method} {target} HTTP/1.1"]
        if isinstance(body, (bytes, bytearray)):
            headers = {**headers, "Content-Length": str(len(body))}
        elif body is None and method in ("POST", "PUT", "PATCH"):
            headers = {**headers, "Content-Length": "0"}
        lines += [f"{k}: {v}" for k, v in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if body is None or isinstance(body, (bytes, bytearray)):
            self.sock.sendall(head + body if body else head)  # head and body in one segment: the server wakes once
        else:
            self.sock.sendall(head)
            while data := body.read(_FILE_CHUNK):
                self.sock.sendall(data)

    def getresponse(self) -> Response:
        return Response(self, self._method)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _line(file: _Lines) -> bytes:
    line = file.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise ProtocolError("a line of the answer's head is too long")
    if not line.endswith(b"\n"):
        raise ProtocolError("the answer ended inside its head")
    return line.rstrip(b"\r\n")


def _status_line(file: _Lines) -> tuple[str, int, str]:
    first = file.readline(_MAX_LINE + 1)
    if not first:
        raise Disconnected("the server closed the connection without an answer")
    if not first.endswith(b"\n") or len(first) > _MAX_LINE:
        raise ProtocolError("the answer's status line is cut or too long")
    version, _, rest = first.rstrip(b"\r\n").decode("latin-1").partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ProtocolError(f"not an HTTP/1.x answer: {first[:60]!r}")
    return version, int(code), reason.strip()


def _headers(file: _Lines) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS + 1):
        line = _line(file)
        if not line:
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"a malformed header line: {line[:60]!r}")
        name = name.lower()
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    raise ProtocolError(f"more than {_MAX_HEADERS} headers in the answer")
