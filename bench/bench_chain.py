"""A warm chain of cached steps passing a 200 MB array: every step is a hit, nothing is re-hashed
(arrays returned by cached steps are read-only and remember their hash) and nothing is re-serialised
(the hit maps the verified blob with numpy's zero-copy reader)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit

os.environ["LINEAGE_HOME"] = tempfile.mkdtemp(prefix="bench-chain-")
import numpy as np

from lineage_core import cached, explain

N = 200 * 2**20 // 8  # 200 MiB of float64


@cached
def make(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n)


@cached
def scale(a: np.ndarray, k: float) -> np.ndarray:
    return a * k


@cached
def shift(a: np.ndarray, d: float) -> np.ndarray:
    return a + d


@cached
def summary(a: np.ndarray) -> dict[str, float]:
    return {"mean": float(a.mean()), "max": float(a.max())}


def chain() -> dict[str, float]:
    return summary(shift(scale(make(N, 0), 2.0), 1.0))


def main() -> None:
    t = time.perf_counter()
    chain()
    cold = time.perf_counter() - t
    t = time.perf_counter()
    chain()
    warm = time.perf_counter() - t
    assert all(explain(f).hit for f in (make, scale, shift, summary))
    t = time.perf_counter()
    a = np.random.default_rng(0).random(N)
    (a * 2.0 + 1.0).mean()
    plain = time.perf_counter() - t
    emit({"bench": "chain_200mb", "steps": 4, "cold_s": cold, "warm_s": warm, "plain_compute_s": plain})


if __name__ == "__main__":
    main()
