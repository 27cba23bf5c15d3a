"""Object-store servers on loopback: moto's S3 server and fake-gcs-server (GCS JSON API).

Clients reach them the way they would reach any S3-compatible or GCS endpoint: ``AWS_ENDPOINT_URL``
for s3fs/botocore and ``STORAGE_EMULATOR_HOST`` for gcsfs. Nothing is patched in-process.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from .postgres import free_port

ROOT = Path(__file__).resolve().parents[2]


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port}")


class S3Server:
    """moto in server mode; its request log (stderr) is kept so tests can count GETs."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
        if exe is None:
            raise RuntimeError("moto_server not found: install the dev extra (moto[server])")
        self._fh = open(log, "wb")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(self.port)], stdout=self._fh,
                                     stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc, "moto_server")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

    def requests(self, method: str, path: str) -> int:
        """How many ``METHOD /bucket/key`` requests the server has logged (colour codes stripped)."""
        text = re.sub(r"\x1b\[[0-9;]*m", "", self.log.read_text(errors="replace"))
        return sum(1 for line in text.splitlines() if f'"{method} {path}' in line)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._fh.close()


class GcsServer:
    """fake-gcs-server (built by scripts/ensure-fake-gcs.sh), in-memory backend, plain HTTP."""

    def __init__(self) -> None:
        exe = ROOT / ".services" / "bin" / "fake-gcs-server"
        if not exe.exists():
            raise RuntimeError("fake-gcs-server is not built: run scripts/ensure-fake-gcs.sh (make test does)")
        self.port = free_port()
        url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(exe), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port), "-backend", "memory",
             "-external-url", url, "-public-host", f"127.0.0.1:{self.port}", "-log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.proc, "fake-gcs-server")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        # gcsfs's experimental gRPC bucket probing cannot talk to an emulator; plain JSON API only.
        return {"STORAGE_EMULATOR_HOST": self.endpoint, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def apply_env(env: dict[str, str]) -> None:
    os.environ.update(env)
