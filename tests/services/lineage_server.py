"""`lineage serve` as a real process on loopback, started with the environment the test gives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from .postgres import free_port


class Server:
    def __init__(self, env: dict[str, str], host: str = "127.0.0.1", python: str = sys.executable) -> None:
        """``python``: the interpreter (venv) to serve from; the server need not share the client's packages."""
        self.port = free_port()
        self.host = host
        self.proc = subprocess.Popen(
            [python, "-m", "lineage_core.cli", "serve", "--host", host, "--port", str(self.port)],
            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read() if self.proc.stderr else "server exited")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return request(self.port, method, path, body, headers)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request to a lineage server on loopback: (status, decoded JSON body, the text of any other body, or
    None)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, _decoded(r.read())
    except urllib.error.HTTPError as e:
        return e.code, _decoded(e.read())


def _decoded(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:  # /metrics answers Prometheus's text format
        return raw.decode("utf-8", "replace")
