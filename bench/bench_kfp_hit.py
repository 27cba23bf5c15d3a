"""Cost of a cache-hit KFP task against the same function as a plain KFP component, both run by the real KFP
SDK (kfp.local's subprocess runner, one task per pipeline, KFP's cache off), and the time inside the task's
process that lineage-core adds on a hit (the component body, measured in the task).

Run with the KFP venv: ``.venv-kfp/bin/python bench/bench_kfp_hit.py`` (after ``make venv``: the lineage server
the third variant uses runs from .venv). Each kfp.local task is a fresh Python process, so the hit pays
lineage-core's import, opening the store and capturing the environment every time: this is the cold path, the
one a KFP pod pays. Two stores: the SQLite database opened by the task, and a lineage server on loopback (the
task holds only its URL; the server keeps the runs and blobs in its own SQLite store). (No ``from __future__
import annotations``: KFP reads real annotations.)
"""


import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, emit, machine, start_lineage_server

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

    server, server_url = start_lineage_server(HOME / "server", str(ROOT / ".venv" / "bin" / "python"))
    stores = {"cached_hit": None, "cached_hit_server_store": server_url}  # None: the task's own SQLite

    def run(name: str, p: object) -> float:
        if stores.get(name):
            os.environ["LINEAGE_STORE_URL"] = stores[name]
        else:
            os.environ.pop("LINEAGE_STORE_URL", None)
        started = time.perf_counter()
        assert p().output == 42
        return (time.perf_counter() - started) * 1000

    timings: dict[str, list[float]] = {"plain": [], **{name: [] for name in stores}}
    cached_pipeline, plain_pipeline = pipeline_of(cached), pipeline_of(plain)
    try:
        for name in stores:
            run(name, cached_pipeline)  # the miss that fills each store
        for _ in range(RUNS):
            for name in timings:
                timings[name].append(run(name, plain_pipeline if name == "plain" else cached_pipeline))
    finally:
        server.terminate()
    ms = {name: statistics.median(values) for name, values in timings.items()}
    plain_ms = ms["plain"]
    emit({"bench": "kfp_hit_task", "runs": RUNS, "kfp": kfp.__version__, "machine": machine(),
          "plain_task_ms": round(plain_ms, 1),
          **{f"{name}_task_ms": round(ms[name], 1) for name in stores},
          **{f"{name}_adds_ms": round(ms[name] - plain_ms, 1) for name in stores},
          **{f"ratio_{name}_vs_plain": round(ms[name] / plain_ms, 2) for name in stores}})


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    main()
