"""The store client's HTTP/1.1 (lineage_core.store.wire, under ServerClient) against a scripted server on loopback:
every framing the client accepts, every malformed answer it refuses (a StoreError, never a wrong body), keep-alive
and its retry, and https through a proxy's CONNECT tunnel with a real TLS handshake. And what RemoteStore sends
before it knows the server: nothing at connect, the hit as the first and only request."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lineage_core.errors import ConfigError, StoreError
from lineage_core.store.http_client import ServerClient
from lineage_core.store.protocol import HitRequest
from lineage_core.store.remote import RemoteStore

Answer = Callable[[bytes, bytes], bytes | None]  # (request head, body) -> the bytes to send (None: close)


def accept_forever(listener: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Each connection to ``listener`` handled on a thread of its own, until the listener is closed."""

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()


class Scripted:
    """A server that answers each request with the next of ``answers`` (a function may close instead)."""

    def __init__(self, answers: list[bytes | Answer], close_after_each: bool = False,
                 tls: ssl.SSLContext | None = None) -> None:
        self.answers = list(answers)
        self.close_after_each = close_after_each
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.tls = tls
        accept_forever(self.listener, self._handle)

    def _handle(self, conn: socket.socket) -> None:
        self.connections += 1
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:  # the client refused the certificate
                conn.close()
                return
        f = conn.makefile("rb")
        with conn:
            while self.answers:
                head = b""
                while (line := f.readline()) not in (b"\r\n", b""):
                    head += line
                if not head:
                    return
                length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                               if h.lower().startswith(b"content-length:")), 0)
                body = f.read(length)
                self.requests.append((head, body))
                answer = self.answers.pop(0)
                out = answer(head, body) if callable(answer) else answer
                if out is None:
                    return
                conn.sendall(out)
                if self.close_after_each:
                    return

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Scripted]]:
    servers: list[Scripted] = []

    def start(*answers: bytes | Answer, **kw: object) -> Scripted:
        servers.append(Scripted(list(answers), **kw))  # type: ignore[arg-type]
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def ok(body: bytes, *headers: str) -> bytes:
    return b"\r\n".join([b"HTTP/1.1 200 OK", f"Content-Length: {len(body)}".encode(), *map(str.encode, headers),
                         b"", body])


def test_two_requests_share_one_kept_alive_connection(serve: Callable[..., Scripted]) -> None:
    s = serve(ok(b'{"a":1}'), ok(b'{"b":2}'))
    client = ServerClient(s.url, "tok")
    assert client.call("GET", "/x").json() == {"a": 1}
    assert client.call("POST", "/y", json={"k": "v"}).json() == {"b": 2}
    assert s.connections == 1
    (head1, _), (head2, body2) = s.requests
    assert head1.startswith(b"GET /api/v1/store/x HTTP/1.1\r\n") and b"Authorization: Bearer tok" in head1
    assert head2.startswith(b"POST /api/v1/store/y HTTP/1.1\r\n") and body2 == b'{"k":"v"}'
    assert client.requests == 2


def test_chunked_answers_with_extensions_and_trailers_are_read_whole(serve: Callable[..., Scripted]) -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4;ext=1\r\n{\"a\"\r\n3\r\n:12\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n")
    s = serve(chunked, ok(b"[]"))
    client = ServerClient(s.url, None)
    assert client.call("GET", "/x").json() == {"a": 12}
    assert client.call("GET", "/x").json() == []  # the trailers were consumed: the connection is still in step
    assert s.connections == 1


def test_a_streamed_chunked_body_reads_in_pieces(serve: Callable[..., Scripted]) -> None:
    data = bytes(range(256)) * 40
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 1000]), data[i:i + 1000]) for i in range(0, len(data), 1000))
    s = serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n", ok(b"1"))
    client = ServerClient(s.url, None)
    with client.call("GET", "/blobs/d", stream=True) as r:
        got = b"".join(iter(lambda: r.raw.read(777), b""))
    assert got == data
    assert client.call("GET", "/x").json() == 1 and s.connections == 1  # read to its end: the connection was kept


def test_a_body_that_ends_with_the_connection_is_read_and_the_connection_not_reused(
    serve: Callable[..., Scripted],
) -> None:
    s = serve(b"HTTP/1.1 200 OK\r\n\r\n{\"until\": \"close\"}", ok(b"2"), close_after_each=True)
    client = ServerClient(s.url, None)
    assert client.call("GET", "/x").json() == {"until": "close"}
    assert client.call("GET", "/x").json() == 2
    assert s.connections == 2


def test_interim_100_answers_are_skipped_and_head_answers_have_no_body(serve: Callable[..., Scripted]) -> None:
    s = serve(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b'"x"'), b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n",
              b"HTTP/1.1 204 No Content\r\n\r\n", ok(b'"y"'))
    client = ServerClient(s.url, None)
    assert client.call("PUT", "/x", data=b"abc").json() == "x"
    assert client.call("HEAD", "/blobs/d").status_code == 200
    assert client.call("DELETE", "/x").status_code == 204
    assert client.call("GET", "/x").json() == "y"
    assert s.connections == 1
    assert s.requests[0][1] == b"abc" and b"Content-Length: 3" in s.requests[0][0]


def test_a_file_body_is_sent_whole_with_its_length(serve: Callable[..., Scripted], tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"z" * (3 << 20) + b"end")
    s = serve(ok(b"{}"))
    client = ServerClient(s.url, None)
    with blob.open("rb") as f:
        assert client.call("PUT", "/blobs/d", data=f).json() == {}
    assert s.requests[0][1] == blob.read_bytes()


def test_an_http_10_answer_closes_the_connection(serve: Callable[..., Scripted]) -> None:
    s = serve(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n3", ok(b"4"), close_after_each=True)
    client = ServerClient(s.url, None)
    assert client.call("GET", "/x").json() == 3
    assert client.call("GET", "/x").json() == 4
    assert s.connections == 2


def test_a_kept_alive_connection_the_server_closed_is_retried_on_a_new_one(serve: Callable[..., Scripted]) -> None:
    """The server closes after answering without saying so: the next request meets a closed connection before any
    answer (not processed), and goes again on a new one."""
    s = serve(ok(b"5"), lambda head, body: None, ok(b"6"))
    client = ServerClient(s.url, None)
    assert client.call("GET", "/x").json() == 5
    assert client.call("GET", "/x").json() == 6
    assert s.connections == 2


@pytest.mark.parametrize("answer", [
    b"SPDY/3 200 OK\r\n\r\n",  # not HTTP/1.x
    b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",  # a status that is not 3 digits
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345",  # a body shorter than its length, then the end
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nno colon here\r\n\r\n1",
    b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"Content-Length: 1\r\n\r\n1",
    b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * (70 << 10) + b"\r\nContent-Length: 1\r\n\r\n1",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # a chunk size that is not hex
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",  # the end inside a chunk
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",  # a chunk without its CRLF
    b"HTTP/1.1 200 OK\r\nContent-Le",  # the end inside the head
], ids=["not-http", "status", "short-body", "negative-length", "bad-header", "too-many-headers", "long-line",
        "chunk-size", "cut-chunk", "chunk-crlf", "cut-head"])
def test_a_malformed_answer_is_a_store_error_never_a_body(serve: Callable[..., Scripted], answer: bytes) -> None:
    s = serve(answer, close_after_each=True)
    client = ServerClient(s.url, "secret-token")
    with pytest.raises(StoreError, match="unreachable") as e:
        client.call("GET", "/x")
    assert "secret-token" not in str(e.value)
    assert s.connections == 1  # an answer came: the request may have been processed, so it is never sent again


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lineage-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class ConnectProxy:
    """A forward proxy that answers CONNECT and then relays bytes both ways."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.tunnels: list[bytes] = []
        accept_forever(self.listener, self._tunnel)

    def _tunnel(self, conn: socket.socket) -> None:
        f = conn.makefile("rb", buffering=0)
        first = f.readline()
        while f.readline() not in (b"\r\n", b""):
            pass
        self.tunnels.append(first)
        host, port = first.split()[1].decode().rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pump(a: socket.socket, b: socket.socket) -> None:
            try:
                while data := a.recv(65536):
                    b.sendall(data)
            except OSError:
                pass
            finally:
                b.close()

        threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()
        pump(conn, upstream)


def test_https_through_a_proxy_tunnel_verifies_the_servers_certificate(
    serve: Callable[..., Scripted], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, key = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    s = serve(ok(b'{"tls": true}'), ok(b'{"again": 1}'), tls=tls)
    proxy = ConnectProxy()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    client = ServerClient(f"https://127.0.0.1:{s.port}", "tok")
    assert client.call("GET", "/x").json() == {"tls": True}
    assert client.call("GET", "/x").json() == {"again": 1}
    assert proxy.tunnels == [f"CONNECT 127.0.0.1:{s.port} HTTP/1.1\r\n".encode()]  # one tunnel, kept alive
    assert s.requests[0][0].startswith(b"GET /api/v1/store/x HTTP/1.1")

    monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # the system's roots do not know this certificate: refused
    with pytest.raises(StoreError, match=r"unreachable.*CERTIFICATE_VERIFY_FAILED"):
        ServerClient(f"https://127.0.0.1:{s.port}", "tok").call("GET", "/x")


def _hit_request() -> HitRequest:
    return HitRequest("01a24263-ae6b-77c0-9a2f-7390660744a2", ("default", "steps.add"), None, time.time(), {})


def test_a_store_connects_without_a_request_and_its_first_hit_is_the_only_one(
    serve: Callable[..., Scripted], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """The hit's answer names the server's artifact store, so a value by reference is named without asking the
    server's info; the hit named its job (the server is assumed to take the fields)."""
    monkeypatch.setenv("LINEAGE_HOME", str(tmp_path))
    key = "blake3:" + "1" * 64
    entry = {"key": key, "run_id": "r1", "artifact_hash": "blake3:" + "2" * 64, "value_hash": None,
             "created_at": 1.0, "materializer": "json@1", "meta": {}, "job": "steps.add", "size": 2}
    answer = json.dumps({"entry": entry, "recorded": True, "job_id": 7, "artifacts": "s3://bucket/arts"}).encode()
    s = serve(ok(answer))
    store = RemoteStore.connect(s.url, "tok")
    assert s.requests == []  # connecting asked nothing
    found, recorded = store.lookup_and_record(key, _hit_request())
    assert found is not None and found.run_id == "r1" and recorded
    hexd = "2" * 64
    assert store.artifacts.uri_for(found.artifact_hash) == f"s3://bucket/arts/blobs/{hexd[:2]}/{hexd}"
    ((head, body),) = s.requests  # one request in all
    assert head.startswith(f"POST /api/v1/store/hits/{key} ".encode())
    assert json.loads(body)["job"] == {"namespace": "default", "name": "steps.add"}
    assert store.job_id("default", "steps.add") == 7  # learnt from the answer: no registration


def test_a_url_that_is_not_a_lineage_server_fails_the_first_hit_clearly(
    serve: Callable[..., Scripted], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """Some other HTTP server answers 404 to everything: the first hit asks for the store's info, and the error
    says there is no store API there (not a miss that would go on to compute and fail to store)."""
    monkeypatch.setenv("LINEAGE_HOME", str(tmp_path))
    not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"
    s = serve(not_found, not_found)
    store = RemoteStore.connect(s.url, "tok")
    with pytest.raises(ConfigError, match="has no store API"):
        store.lookup_and_record("blake3:" + "1" * 64, _hit_request())
    assert [h.split(b" ")[:2] for h, _ in s.requests] == [[b"POST", b"/api/v1/store/hits/blake3:" + b"1" * 64],
                                                          [b"GET", b"/api/v1/store"]]


@pytest.mark.parametrize(("url", "token"), [
    ("http://127.0.0.1:9/a b", "s3cr3t"),  # a space would split the request line
    ("http://127.0.0.1:9", "s3cr3t\r\nX-Injected: 1"),  # a line break would add a header of its own
    ("http://127.0.0.1:9", "s3cr3t\0"),
], ids=["url-space", "token-crlf", "token-nul"])
def test_what_would_break_the_request_head_is_a_config_error_that_does_not_echo_the_token(url: str,
                                                                                         token: str) -> None:
    with pytest.raises(ConfigError) as e:
        ServerClient(url, token)
    assert "Injected" not in str(e.value) and "s3cr3t" not in str(e.value)
