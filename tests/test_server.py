"""`lineage serve` as a real uvicorn process on loopback, on both backends: Marquez's ingest contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from .services.lineage_server import Server
from .test_openlineage_ingest import airflow_event

pytestmark = [pytest.mark.usefixtures("backend"), pytest.mark.slow]  # a server per test


@pytest.fixture
def server(backend: str) -> Iterator[Server]:  # after the backend: the server must see its URL
    s = Server({})
    yield s
    s.stop()


def declared_too_large(server: Server, token: str | None = None) -> int:
    """A client announcing an 11 MB body gets 413 before it sends it (raw HTTP: clients would stream it)."""
    import socket

    auth = f"Authorization: Bearer {token}\r\n".encode() if token else b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth +
                     b"Content-Length: 11534336\r\n\r\n")
        reply = sock.recv(4096).decode()
    return int(reply.split()[1])


def post(server: Server, path: str, payload: Any) -> tuple[int, Any]:
    return server.request("POST", path, json.dumps(payload).encode())


def test_ingest_contract(server: Server) -> None:
    assert post(server, "/api/v1/lineage", airflow_event("START", "2026-11-22T10:00:00Z")) == (201, None)
    assert post(server, "/api/v1/lineage", airflow_event("START", "2026-11-22T10:00:00Z"))[0] == 201  # idempotent
    status, body = server.request("POST", "/api/v1/lineage", b"{not json")
    assert status == 400 and "malformed JSON" in body["message"]
    status, body = post(server, "/api/v1/lineage", {"eventTime": "2026-11-22T10:00:00Z", "producer": "https://x",
                                                     "job": {"namespace": "a", "name": "b"}})
    assert status == 422 and "run.runId" in body["message"] and body["code"] == 422
    status, body = post(server, "/api/v1/lineage", {**airflow_event("START", "2026-11-22T10:00:00Z"),
                                                     "eventType": "DONE"})
    assert status == 422 and "eventType 'DONE'" in body["message"]
    assert declared_too_large(server) == 413
    status, body = server.request("GET", "/api/v1/events/lineage?limit=10")
    assert status == 200 and body["totalCount"] == 1 and body["events"][0]["eventType"] == "START"


def test_batch_is_all_or_nothing(server: Server) -> None:
    good = [airflow_event("START", "2026-11-22T10:00:00Z"), airflow_event("COMPLETE", "2026-11-22T10:01:00Z")]
    status, body = post(server, "/api/v1/lineage/batch", [*good, {"eventTime": "x"}])
    assert status == 422 and "event 2" in body["message"]
    assert server.request("GET", "/api/v1/events/lineage")[1]["totalCount"] == 0
    status, body = post(server, "/api/v1/lineage/batch", good)
    assert status == 200 and body == {"status": "success", "stored": 2, "duplicates": 0}
    events = server.request("GET", "/api/v1/events/lineage?sortDirection=asc")[1]["events"]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert server.request("GET", "/readyz")[0] == 200


def test_writes_need_a_token_off_loopback(backend: str) -> None:
    with pytest.raises(RuntimeError, match="LINEAGE_SERVER_TOKENS"):
        Server({}, host="0.0.0.0")
    s = Server({"LINEAGE_SERVER_TOKENS": "t0ken-abc"}, host="0.0.0.0")
    try:
        event = json.dumps(airflow_event("START", "2026-11-22T10:00:00Z")).encode()
        assert s.request("POST", "/api/v1/lineage", event)[0] == 401
        assert s.request("POST", "/api/v1/lineage", event, {"Authorization": "Bearer wrong"})[0] == 401
        assert s.request("POST", "/api/v1/lineage", event, {"Authorization": "Bearer t0ken-abc"})[0] == 201
        # a body is read only for a caller with a token: without one, malformed or oversized is still just 401
        status, body = s.request("POST", "/api/v1/lineage", b"{not json")
        assert status == 401 and body["message"] == "a valid bearer token is required"
        assert s.request("POST", "/api/v1/lineage", b"{not json", {"Authorization": "Bearer t0ken-abc"})[0] == 400
        assert declared_too_large(s) == 401 and declared_too_large(s, "t0ken-abc") == 413
        assert s.request("GET", "/api/v1/events/lineage")[0] == 401  # reads too, off loopback (tests/test_scopes.py)
        assert s.request("GET", "/api/v1/events/lineage", None, {"Authorization": "Bearer t0ken-abc"})[0] == 200
    finally:
        s.stop()
    assert "t0ken-abc" not in (s.proc.stderr.read() if s.proc.stderr else "")
