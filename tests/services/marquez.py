"""A real Marquez 0.51.1 API server (built from source by scripts/ensure-marquez.sh) on the tests' PostgreSQL.

Started through ../shared/marquez/build/build-and-start.sh on free loopback ports, with its own role and
database on the cluster :class:`.postgres.PostgresServer` runs; Flyway migrates that fresh database on start-up
(about 45 s on 2 cores). Nothing is built here: a missing build is an error that says how to make it, so a test
session never spends eight minutes in Maven by surprise.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from .postgres import PostgresServer, free_port

ROOT = Path(__file__).resolve().parents[2]
ENSURE = ROOT / "scripts" / "ensure-marquez.sh"
BUILD_DIR = Path(os.environ.get("LINEAGE_MARQUEZ_BUILD_DIR", ROOT.parent / "shared" / "marquez" / "build"))
VERSION = "0.51.1"


class MarquezError(RuntimeError):
    """Marquez could not be found or started; the message says why and what to run."""


def cache_dir() -> Path:
    """Where scripts/ensure-marquez.sh builds Marquez (keyed by the source's hash); MarquezError if not built."""
    out = subprocess.run(["bash", str(ENSURE), "--where"], capture_output=True, text=True, timeout=30)
    where = out.stdout.strip()
    if out.returncode != 0:
        raise MarquezError(f"Marquez {VERSION} is not built (expected in {where or '?'}): run "
                           f"`bash scripts/ensure-marquez.sh` (make services does; ~8 min the first time)"
                           + (f"\n{out.stderr.strip()}" if out.stderr.strip() else ""))
    return Path(where)


class MarquezServer:
    """One Marquez JVM; ``start()`` returns once its API answers, ``stop()`` kills it."""

    def __init__(self, pg: PostgresServer, database: str = "marquez") -> None:
        self.pg = pg
        self.database = database
        self.port = free_port()
        self.admin_port = free_port()
        self.cache = cache_dir()
        self.log = self.cache / f"marquez-{self.port}.log"  # where build-and-start.sh sends the JVM's output
        self.pid: int | None = None

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.pg.port} user=lineage dbname=postgres",
                             autocommit=True) as c:
            if not c.execute("select 1 from pg_roles where rolname = 'marquez'").fetchone():
                c.execute("create user marquez with password 'marquez'")
            c.execute(f'create database "{self.database}" owner marquez')

    def start(self) -> MarquezServer:
        self._create_database()
        env = {**os.environ, "MARQUEZ_CACHE": str(self.cache), "MARQUEZ_PORT": str(self.port),
               "MARQUEZ_ADMIN_PORT": str(self.admin_port), "POSTGRES_HOST": "127.0.0.1",
               "POSTGRES_PORT": str(self.pg.port), "POSTGRES_DB": self.database, "POSTGRES_USER": "marquez",
               "POSTGRES_PASSWORD": "marquez", "LOG_LEVEL": os.environ.get("LINEAGE_MARQUEZ_LOG_LEVEL", "WARN")}
        try:
            out = subprocess.run(["bash", str(BUILD_DIR / "build-and-start.sh")], env=env, capture_output=True,
                                 text=True, timeout=240, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise MarquezError(f"Marquez did not start within 240 s\n{self.log_tail()}") from e
        last = out.stdout.strip().splitlines()[-1:] or [""]
        if out.returncode != 0 or not last[0].isdigit():
            raise MarquezError(f"Marquez {VERSION} failed to start (exit {out.returncode}):\n{out.stderr[-3000:]}\n"
                               f"{self.log_tail()}")
        self.pid = int(last[0])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 80, skip: str | None = "LoggingMdcFilter: status:") -> str:
        """The end of the JVM's log, without the lines that contain ``skip`` (default: the one-line note of each
        request's status)."""
        try:
            text = [line for line in self.log.read_text(errors="replace").splitlines() if not skip or skip not in line]
        except OSError:
            return f"(no Marquez log at {self.log})"
        return f"--- last {lines} lines of {self.log} ---\n" + "\n".join(text[-lines:])

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """(status, decoded JSON or the raw text, None when empty)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body, {"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")

    def stop(self) -> None:
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)
