"""Cache-hit cost per call, in-process, on the embedded SQLite store — ours vs a plain call and peers.

Ours twice in one process: as the cache path opens the store (the hit path on sqlite3, store/fast_sqlite.py) and
with the store opened the way it was before (the SQL store on SQLAlchemy for every statement), so the before/after
ratio is taken on the same machine in the same run; each as the median wall time per call and as CPU time per call
(``*_cpu_ms``: what the process itself spent, which a loaded machine inflates less), and on the sqlite3 path the
statements one hit runs (``ours_statements``, counted with sqlite3's trace callback). Prefect: a task with
cache_policy=INPUTS+TASK_SOURCE and persisted results, called N times inside a flow after a first flow populated
the cache. ZenML: a pipeline of K steps run twice; the second run is all cache hits and we divide its wall time by K
(ZenML resolves hits per step with its own store).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, median_ms, peer_python, run_json

HERE = Path(__file__).resolve().parent


def ours(n: int) -> dict[str, float]:
    from lineage_core import cached, runtime, settings
    from lineage_core.store import Store

    def add(a: int, b: int) -> int:
        return a + b

    out = {"plain_ms": median_ms(lambda: add(1, 2), n)}
    for label, sql_store in (("ours_ms", False), ("ours_sql_store_ms", True)):
        os.environ["LINEAGE_HOME"] = tempfile.mkdtemp(prefix="bench-hit-")
        runtime.close_stores()
        opened = runtime.open_store
        if sql_store:  # how runtime opened a SQLite store before store.fast_sqlite
            def _sql(s: settings.Settings) -> Store:
                with settings.use(s):
                    return Store.from_url(s.resolved_store_url, s.resolved_artifacts_url)

            runtime.open_store = _sql  # type: ignore[assignment]
        try:
            cached_add = cached(add)
            cached_add(1, 2)
            out[label] = median_ms(lambda: cached_add(1, 2), n)  # noqa: B023 - measured before the next loop
            cpu = time.process_time()
            for _ in range(n):
                cached_add(1, 2)
            out[label.replace("_ms", "_cpu_ms")] = (time.process_time() - cpu) * 1000 / n  # load-independent
            store = runtime.default_store()
            out[label.replace("_ms", "_store")] = type(store).__name__  # type: ignore[assignment]
            if hasattr(type(store), "_conn"):  # the sqlite3 hit path: what one hit asks of the database
                statements: list[str] = []
                store._conn().set_trace_callback(statements.append)  # type: ignore[attr-defined]
                cached_add(1, 2)
                store._conn().set_trace_callback(None)  # type: ignore[attr-defined]
                out[label.replace("_ms", "_statements")] = len(statements)
        finally:
            runtime.open_store = opened  # type: ignore[assignment]
    return out


def main() -> None:
    n = int(os.environ.get("BENCH_N", "2000"))
    result: dict[str, object] = {"bench": "hit_path", **ours(n)}
    # A loaded machine can make Prefect's ephemeral server miss its default 20 s startup timeout.
    peers = {"prefect": {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"}, "zenml": {}}
    for peer, env in peers.items():
        py = peer_python(peer)
        if py:
            try:
                result[peer] = run_json([str(py), str(HERE / "peers" / f"{peer}_hits.py")], env=env)
            except RuntimeError as e:  # a peer that fails is reported, not fatal to our figures
                result[f"{peer}_error"] = str(e)[-500:]
    emit(result)


if __name__ == "__main__":
    main()
