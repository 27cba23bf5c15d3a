"""A warm process's cache hit on the lineage server as its store (over HTTP on loopback, the server on SQLite)
against the same hit on the embedded SQLite store it opens itself, for a small value and for a 64 MiB array
(every hit downloads and re-hashes the blob on the client).

Run with the core venv: ``.venv/bin/python bench/bench_server_store.py``. The server is a real ``lineage
serve`` in its own process on the same machine, so both sides share the cores.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, machine, median_ms, start_lineage_server

N = int(os.environ.get("BENCH_N", "300"))


def measure() -> dict[str, float]:
    import numpy as np

    from lineage_core import cached, runtime

    def add(a: int, b: int) -> int:
        return a + b

    def big(n: int) -> np.ndarray:
        return np.arange(n, dtype=np.float64)

    small, large = cached(add), cached(big)
    small(1, 2)
    large(8 << 20)  # 64 MiB
    out = {"small_hit_ms": median_ms(lambda: small(1, 2), N),
           "array_64mib_hit_ms": median_ms(lambda: large(8 << 20), 15, 2)}
    for store in list(runtime._stores.values()):
        store.close()
    runtime._stores.clear()
    runtime._store_by_env.clear()
    return out


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-server-store-"))
    os.environ["LINEAGE_HOME"] = str(root / "client")
    embedded = measure()
    server, url = start_lineage_server(root / "server")
    try:
        os.environ["LINEAGE_STORE_URL"] = url
        remote = measure()
    finally:
        server.terminate()
    emit({"bench": "server_store_hit", "n": N, "machine": machine(),
          **{f"embedded_{k}": round(v, 3) for k, v in embedded.items()},
          **{f"server_{k}": round(v, 3) for k, v in remote.items()},
          **{f"ratio_{k}_server_vs_embedded": round(remote[k] / embedded[k], 1) for k in remote}})


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    main()
