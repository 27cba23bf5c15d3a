"""Cost of a cache-hit KFP task against the same function as a plain KFP component, both run by the real KFP
SDK (kfp.local's subprocess runner, one task per pipeline, KFP's cache off), and the time inside the task's
process that lineage-core adds on a hit (the component body, measured in the task).

Run with the KFP venv: ``.venv-kfp/bin/python bench/bench_kfp_hit.py``. Each kfp.local task is a fresh Python
process, so the hit pays lineage-core's import, opening the store and capturing the environment every time:
this is the cold path, the one a KFP pod pays. (No ``from __future__ import annotations``: KFP reads real
annotations.)
"""


import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, machine

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
HOME = Path(tempfile.mkdtemp(prefix="bench-kfp-"))
(HOME / "bench_kfp_steps.py").write_text("def scale(x: int) -> int:\n    return x * 2\n")
sys.path.insert(0, str(HOME))
os.environ.update({"LINEAGE_HOME": str(HOME / "lineage"), "PYTHONPATH": os.pathsep.join(
    [str(HOME), str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])})


def main() -> None:
    import bench_kfp_steps
    import kfp
    from kfp import dsl, local

    from lineage_kfp import cached_component

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(HOME / "root"))
    plain = dsl.component(bench_kfp_steps.scale, base_image="python:3.11")
    cached = cached_component(name="bench.scale", base_image="python:3.11")(bench_kfp_steps.scale)

    def pipeline_of(component):
        @dsl.pipeline(name="bench")
        def one_task() -> int:
            return component(x=21).set_caching_options(False).output

        return one_task

    timings: dict[str, list[float]] = {"plain": [], "cached_hit": []}
    cached_pipeline, plain_pipeline = pipeline_of(cached), pipeline_of(plain)
    cached_pipeline()  # the miss that fills the cache
    for _ in range(RUNS):
        for name, p in (("plain", plain_pipeline), ("cached_hit", cached_pipeline)):
            started = time.perf_counter()
            assert p().output == 42
            timings[name].append((time.perf_counter() - started) * 1000)
    plain_ms, hit_ms = statistics.median(timings["plain"]), statistics.median(timings["cached_hit"])
    emit({"bench": "kfp_hit_task", "runs": RUNS, "kfp": kfp.__version__, "machine": machine(),
          "plain_task_ms": round(plain_ms, 1), "cached_hit_task_ms": round(hit_ms, 1),
          "hit_adds_ms": round(hit_ms - plain_ms, 1), "ratio_hit_vs_plain": round(hit_ms / plain_ms, 2)})


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    main()
