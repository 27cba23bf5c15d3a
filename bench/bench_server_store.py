"""A warm process's cache hit on the lineage server as its store (over HTTP on loopback, the server on SQLite)
against the same hit on the embedded SQLite store it opens itself, for a small value and for a 64 MiB array: median
wall time, and CPU per hit of this process and of the server (``*_client_cpu_ms``, ``*_server_cpu_ms``).

Through the server, a hit is one request (``POST /api/v1/store/hits/{key}``: lookup and CACHED run together) and a
large blob comes from the node-local verified blob cache (``LINEAGE_BLOB_CACHE``). Measured in the same run, for
comparison: the three requests a hit made before (lookup, blob, run record) over the same kept-alive connection,
and the array hit with the blob cache off (downloaded and re-hashed on every hit). Prefect and ZenML hits when their
venvs are built (bench/setup_peers.sh), as bench_hit_path.py runs them.

Run with the core venv: ``.venv/bin/python bench/bench_server_store.py``. The server is a real ``lineage
serve`` in its own process on the same machine, so both sides share the cores.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, machine, median_ms, peer_python, run_json, start_lineage_server

HERE = Path(__file__).resolve().parent
N = int(os.environ.get("BENCH_N", "300"))
ARRAY = 8 << 20  # float64 elements: 64 MiB


def forget_stores() -> None:
    from lineage_core import runtime

    for store in list(runtime._stores.values()):
        store.close()
    runtime._stores.clear()
    runtime._store_by_env.clear()


def steps() -> tuple[Any, Any]:
    import numpy as np

    from lineage_core import cached

    def add(a: int, b: int) -> int:
        return a + b

    def big(n: int) -> np.ndarray:
        return np.arange(n, dtype=np.float64)

    return cached(add), cached(big)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ms(fn: Any, n: int, server_pid: int | None) -> dict[str, float]:
    """CPU per call: this process's (``time.process_time``) and, when given, the server's — less sensitive than
    wall time to the other work on a shared machine. The server's is counted in clock ticks (10 ms): n calls
    resolve it to 10/n ms."""
    client, server = time.process_time(), process_cpu_s(server_pid) if server_pid else 0.0
    for _ in range(n):
        fn()
    out = {"client_cpu_ms": (time.process_time() - client) / n * 1000}
    if server_pid:
        out["server_cpu_ms"] = (process_cpu_s(server_pid) - server) / n * 1000
    return out


def measure(server_pid: int | None = None) -> dict[str, float]:
    small, large = steps()
    small(1, 2)
    large(ARRAY)
    out = {"small_hit_ms": median_ms(lambda: small(1, 2), N),
           "array_64mib_hit_ms": median_ms(lambda: large(ARRAY), 15, 2)}
    for name, call, n in (("small_hit", lambda: small(1, 2), N), ("array_64mib_hit", lambda: large(ARRAY), 100)):
        out.update({f"{name}_{k}": v for k, v in cpu_ms(call, n, server_pid).items()})
    forget_stores()
    return out


def three_requests() -> float:
    """The hit as it was before the combined route: the entry, the blob, the run, one request each."""
    from lineage_core import runtime
    from lineage_core.ids import new_run_id
    from lineage_core.store.remote import RemoteArtifacts, RemoteStore

    small, _ = steps()
    small(1, 2)
    store = runtime.default_store()
    assert isinstance(store, RemoteStore) and isinstance(store.artifacts, RemoteArtifacts)
    store.artifacts.cache = None
    key = small.manifest(1, 2).key()
    job = store.job_id("default", small.name)

    def hit() -> None:
        entry = store.lookup(key)
        assert entry is not None
        store.artifacts.read_verified(entry.artifact_hash, store, entry.size)
        store.insert_run(id=new_run_id(), job_id=job, status="CACHED", cache_key=key, source_run_id=entry.run_id,
                         started_at=time.time(), ended_at=time.time(), reasons=["bench"], context={})

    ms = median_ms(hit, N)
    forget_stores()
    return ms


def requests_per_hit() -> dict[str, int]:
    """Requests this client sent for one warm hit of each value (the server's /metrics counts the same)."""
    from lineage_core import runtime

    small, large = steps()
    out = {}
    for name, call in (("small", lambda: small(1, 2)), ("array_64mib", lambda: large(ARRAY))):
        call()
        client = runtime.default_store().client  # type: ignore[attr-defined]
        before = client.requests
        call()
        out[f"requests_per_{name}_hit"] = client.requests - before
    forget_stores()
    return out


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-server-store-"))
    os.environ["LINEAGE_HOME"] = str(root / "client")
    embedded = measure()
    server, url = start_lineage_server(root / "server")
    try:
        os.environ["LINEAGE_STORE_URL"] = url
        remote = measure(server.pid)
        counts = requests_per_hit()
        three = three_requests()
        os.environ["LINEAGE_BLOB_CACHE"] = "off"
        no_cache = measure()["array_64mib_hit_ms"]
        del os.environ["LINEAGE_BLOB_CACHE"]
    finally:
        server.terminate()
    import uvicorn

    from lineage_core.version import __version__

    result: dict[str, object] = {
        "bench": "server_store_hit", "n": N, "machine": machine(),
        "versions": {"lineage_core": __version__, "uvicorn": uvicorn.__version__, "python": sys.version.split()[0]},
        **{f"embedded_{k}": round(v, 3) for k, v in embedded.items()},
        **{f"server_{k}": round(v, 3) for k, v in remote.items()},
        "server_small_hit_three_requests_ms": round(three, 3),
        "server_array_64mib_hit_blob_cache_off_ms": round(no_cache, 3),
        **counts,
        **{f"ratio_{k}_server_vs_embedded": round(remote[k] / embedded[k], 1) for k in remote if k.endswith("hit_ms")},
    }
    for peer in ("prefect", "zenml"):
        py = peer_python(peer)
        if py:
            try:
                result[peer] = run_json([str(py), str(HERE / "peers" / f"{peer}_hits.py")])
            except RuntimeError as e:  # a peer that cannot run here (its own server timing out) leaves ours standing
                result[peer] = {"error": str(e)[-300:]}
    emit(result)


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    main()
