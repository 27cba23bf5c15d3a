"""Helpers shared by the benchmark scripts: timing, peer venvs, machine description."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / ".bench"


def start_lineage_server(home: Path, python: str = sys.executable) -> tuple[subprocess.Popen[bytes], str]:
    """A real ``lineage serve`` on loopback with its own LINEAGE_HOME (SQLite + local artifacts); (process, URL)."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LINEAGE_HOME": str(home)}
    env.pop("LINEAGE_STORE_URL", None)
    proc = subprocess.Popen([python, "-m", "lineage_core.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("lineage server did not start")


def median_ms(fn: Callable[[], object], n: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def peer_python(name: str) -> Path | None:
    """The interpreter of a peer's venv built by bench/setup_peers.sh (None when absent)."""
    p = PEERS / f"venv-{name}" / "bin" / "python"
    return p if p.exists() else None


def run_json(cmd: list[str], env: dict[str, str] | None = None, timeout: int = 900) -> dict[str, object]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.platform()}, Python {sys.version.split()[0]}"


def emit(result: dict[str, object]) -> None:
    """Every script prints one JSON line last, so run_all.py can collect it."""
    print(json.dumps(result))
