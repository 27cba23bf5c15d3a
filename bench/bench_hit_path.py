"""Cache-hit cost per call, in-process, on the embedded SQLite store — ours vs a plain call and peers.

Prefect: a task with cache_policy=INPUTS+TASK_SOURCE and persisted results, called N times inside a flow
after a first flow populated the cache. ZenML: a pipeline of K steps run twice; the second run is all
cache hits and we divide its wall time by K (ZenML resolves hits per step with its own store).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, median_ms, peer_python, run_json

HERE = Path(__file__).resolve().parent


def ours(n: int) -> dict[str, float]:
    os.environ["LINEAGE_HOME"] = tempfile.mkdtemp(prefix="bench-hit-")
    from lineage_core import cached

    def add(a: int, b: int) -> int:
        return a + b

    cached_add = cached(add)
    cached_add(1, 2)
    return {"plain_ms": median_ms(lambda: add(1, 2), n), "ours_ms": median_ms(lambda: cached_add(1, 2), n)}


def main() -> None:
    n = int(os.environ.get("BENCH_N", "2000"))
    result: dict[str, object] = {"bench": "hit_path", **ours(n)}
    py = peer_python("prefect")
    if py:
        result["prefect"] = run_json([str(py), str(HERE / "peers" / "prefect_hits.py")])
    py = peer_python("zenml")
    if py:
        result["zenml"] = run_json([str(py), str(HERE / "peers" / "zenml_hits.py")])
    emit(result)


if __name__ == "__main__":
    main()
