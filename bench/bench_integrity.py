"""What integrity costs on a warm hit: the small-value hit path, and a warm chain of cached steps passing a
200 MiB array, with the default ``verify="stat"`` (a large local blob is vouched for by its full stat
identity: device, inode, size, mtime_ns, ctime_ns) and with ``verify="always"`` (a full hash on every hit).

Run it from a directory other than the repository root (the cwd shadows PYTHONPATH), e.g. to compare
two source trees::

    cd /tmp && PYTHONPATH=/path/to/tree python /path/to/bench/bench_integrity.py hit
    cd /tmp && PYTHONPATH=/path/to/tree valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python /path/to/bench/bench_integrity.py hits 1000     # instructions: difference of two N

Modes: ``hit`` (median ms per small hit), ``chain`` (median ms per warm 200 MiB chain, stat and always),
``hits N`` (N small hits, nothing printed: for instruction counts), default both timings.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, median_ms

os.environ["LINEAGE_HOME"] = tempfile.mkdtemp(prefix="bench-integrity-")
N_CHAIN = 200 * 2**20 // 8  # 200 MiB of float64


def small_hits() -> tuple[object, object]:
    from lineage_core import cached

    def add(a: int, b: int) -> int:
        return a + b

    cached_add = cached(add)
    cached_add(1, 2)
    return add, cached_add


def hit(n: int) -> dict[str, float]:
    add, cached_add = small_hits()
    return {"plain_ms": median_ms(lambda: add(1, 2), n),  # type: ignore[operator]
            "hit_ms": median_ms(lambda: cached_add(1, 2), n)}  # type: ignore[operator]


def hits(n: int) -> None:
    _, cached_add = small_hits()
    for _ in range(n):
        cached_add(1, 2)  # type: ignore[operator]


def chain(n: int) -> dict[str, float]:
    import numpy as np

    from lineage_core import cached, explain
    from lineage_core.cache import CACHE_OPTIONS

    out: dict[str, float] = {}
    for verify in ("stat", "always"):
        if verify == "always" and "verify" not in CACHE_OPTIONS:
            continue  # a tree from before the verify option
        deco = cached(verify="always") if verify == "always" else cached

        @deco  # type: ignore[misc]
        def make(n: int, seed: int) -> np.ndarray:
            return np.random.default_rng(seed).random(n)

        @deco  # type: ignore[misc]
        def scale(a: np.ndarray, k: float) -> np.ndarray:
            return a * k

        @deco  # type: ignore[misc]
        def shift(a: np.ndarray, d: float) -> np.ndarray:
            return a + d

        @deco  # type: ignore[misc]
        def summary(a: np.ndarray) -> dict[str, float]:
            return {"mean": float(a.mean()), "max": float(a.max())}

        def run() -> object:
            return summary(shift(scale(make(N_CHAIN, 0), 2.0), 1.0))

        t = time.perf_counter()
        run()  # verify is not key material: the second pass starts on the first one's entries (hits)
        out[f"{verify}_first_s"] = time.perf_counter() - t
        run()  # the first warm call records the blobs' stat identities
        assert all(explain(f).hit for f in (make, scale, shift, summary))
        out[f"{verify}_ms"] = median_ms(run, n, warmup=2)
    return out


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "all"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("BENCH_N", "2000"))
    import lineage_core

    result: dict[str, object] = {"bench": "integrity", "tree": str(Path(lineage_core.__file__).parent.parent)}
    if mode == "hits":
        return hits(n)
    if mode in ("hit", "all"):
        result.update(hit(n))
    if mode in ("chain", "all"):
        result.update({f"chain_{k}": v for k, v in chain(int(os.environ.get("BENCH_CHAIN_N", "30"))).items()})
    emit(result)


if __name__ == "__main__":
    main()
