"""Cost of a cache-hit KFP task against the same function as a plain KFP component, both run by the real KFP
SDK (kfp.local's subprocess runner, one task per pipeline, KFP's cache off), and the time inside the task's process
that lineage-core adds on a hit: each task process records, at its last exit handler, its main thread's CPU time and
the wall time since its ``sitecustomize`` ran (one on the tasks' path). These are steadier than the pipelines' wall
clock, which moves by tens of ms from run to run on 2 cores; ``*_outside_ms`` (a pipeline's wall time less its task's)
shows that what lies outside the task's own time (KFP's runner, the interpreter's start and shutdown) is the same for
every variant.

Run with the KFP venv: ``.venv-kfp/bin/python bench/bench_kfp_hit.py`` (after ``make venv``: the lineage server
the third variant uses runs from .venv). Each kfp.local task is a fresh Python process, so the hit pays
lineage-core's import, opening the store and capturing the environment every time: this is the cold path, the
one a KFP pod pays. Two stores: the SQLite database opened by the task, and a lineage server on loopback (the
task holds only its URL; the server keeps the runs and blobs in its own SQLite store). The peer, in the same run:
KFP's own cache on kfp.local (``enable_caching=True``) hitting the plain component. (No ``from __future__ import
annotations``: KFP reads real annotations.)
"""


import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, emit, machine, start_lineage_server

RUNS = int(os.environ.get("BENCH_RUNS", "15"))  # medians of 15: a plain task varies by 10-50 ms run to run on 2 cores
HOME = Path(tempfile.mkdtemp(prefix="bench-kfp-"))
(HOME / "bench_kfp_steps.py").write_text("def scale(x: int) -> int:\n    return x * 2\n")
sys.path.insert(0, str(HOME))
CPU_LOG = HOME / "task_cpu.log"
# Each task process appends its main thread's CPU ms and its wall ms at exit (registered first, so it runs after every
# other exit handler, the store's last commit included). Python runs the first sitecustomize on the path: BEFORE's
# imports it.
(HOME / "bench_task_cpu.py").write_text(
    "import atexit, os, time\n\n_CPU, _WALL = time.thread_time(), time.perf_counter()\n\n\ndef _record():\n"
    "    with open(os.environ['BENCH_TASK_CPU_LOG'], 'a') as f:\n"
    "        f.write(f'{1e3 * (time.thread_time() - _CPU)} {1e3 * (time.perf_counter() - _WALL)}\\n')\n\n\n"
    "if os.environ.get('_KFP_RUNTIME') == 'true':\n    atexit.register(_record)\n")
(HOME / "sitecustomize.py").write_text("import bench_task_cpu  # noqa: F401\n")
os.environ["BENCH_TASK_CPU_LOG"] = str(CPU_LOG)
BEFORE = HOME / "before"
BEFORE.mkdir()
(BEFORE / "sitecustomize.py").write_text(
    "import bench_task_cpu  # noqa: F401\n"
    "from lineage_core import runtime, settings\nfrom lineage_core.store import Store\n\n\n"
    "def _sql(s):\n    with settings.use(s):\n"
    "        return Store.from_url(s.resolved_store_url, s.resolved_artifacts_url)\n"
    "\n\nruntime.open_store = _sql\n")
os.environ.update({"LINEAGE_HOME": str(HOME / "lineage"), "PYTHONPATH": os.pathsep.join(
    [str(HOME), str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "kfp_components"),
     os.environ.get("PYTHONPATH", "")])})
# The task processes use bytecode, as a component image's installed packages do (pip compiles on install): with
# PYTHONDONTWRITEBYTECODE set, every task would compile the checkout's modules from source (~45 ms of the cached
# task's, none of the plain one's, which imports only kfp, installed with its bytecode). It is written once, by the
# warm-up runs, into a prefix of this run's own (not into the checkout), for both variants alike.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ["PYTHONPYCACHEPREFIX"] = str(HOME / "pycache")


def main() -> None:
    import bench_kfp_steps
    import kfp
    from kfp import dsl, local

    from lineage_kfp import cached_component

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(HOME / "root"))
    plain = dsl.component(bench_kfp_steps.scale, base_image="python:3.11")
    cached = cached_component(name="bench.scale", base_image="python:3.11")(bench_kfp_steps.scale)

    def pipeline_of(component, kfp_caching=False):
        @dsl.pipeline(name="bench")
        def one_task() -> int:
            return component(x=21).set_caching_options(kfp_caching).output

        return one_task

    server, server_url = start_lineage_server(HOME / "server", str(ROOT / ".venv" / "bin" / "python"))
    # None: the task's own SQLite; "before": the same, with the store opened as before the sqlite3 hit path (the SQL
    # store for every statement), by a sitecustomize on the task's PYTHONPATH, measured in the same run.
    stores = {"cached_hit": None, "cached_hit_sql_store": "before", "cached_hit_server_store": server_url}
    pythonpath = os.environ["PYTHONPATH"]

    def run(name: str, p: object) -> tuple[float, float, float]:
        """(the pipeline's wall ms, its task process's CPU ms, the task's own wall ms)."""
        os.environ["PYTHONPATH"] = (os.pathsep.join([str(BEFORE), pythonpath]) if stores.get(name) == "before"
                                    else pythonpath)
        if stores.get(name) and stores[name] != "before":
            os.environ["LINEAGE_STORE_URL"] = stores[name]
        else:
            os.environ.pop("LINEAGE_STORE_URL", None)
        logged = CPU_LOG.read_text().count("\n") if CPU_LOG.exists() else 0
        started = time.perf_counter()
        assert p().output == 42
        wall = (time.perf_counter() - started) * 1000
        cpu = CPU_LOG.read_text().splitlines()[logged:]
        assert len(cpu) == 1, f"{len(cpu)} task processes recorded their CPU for one task"
        task_cpu_ms, task_wall_ms = map(float, cpu[0].split())
        return wall, task_cpu_ms, task_wall_ms

    timings: dict[str, list[float]] = {"plain": [], **{name: [] for name in stores}}
    task_cpu: dict[str, list[float]] = {name: [] for name in timings}
    task_wall: dict[str, list[float]] = {name: [] for name in timings}
    outside: dict[str, list[float]] = {name: [] for name in timings}
    cached_pipeline, plain_pipeline = pipeline_of(cached), pipeline_of(plain)
    try:
        for name in stores:
            run(name, cached_pipeline)  # the miss that fills each store
        run("plain", plain_pipeline)  # and the plain task's first run (its bytecode, as above)
        for _ in range(RUNS):
            for name in timings:
                wall, cpu, own = run(name, plain_pipeline if name == "plain" else cached_pipeline)
                timings[name].append(wall)
                task_cpu[name].append(cpu)
                task_wall[name].append(own)
                outside[name].append(wall - own)
    finally:
        server.terminate()
    ms = {name: statistics.median(values) for name, values in timings.items()}
    cpu_ms = {name: statistics.median(values) for name, values in task_cpu.items()}
    own_ms = {name: statistics.median(values) for name, values in task_wall.items()}
    ms["kfp_cache_hit"] = kfp_own_cache(local, pipeline_of(dsl.component(bench_kfp_steps.scale,
                                                                         base_image="python:3.11"), True))
    plain_ms = ms["plain"]
    variants = [*stores, "kfp_cache_hit"]
    emit({"bench": "kfp_hit_task", "runs": RUNS, "kfp": kfp.__version__, "machine": machine(),
          "plain_task_ms": round(plain_ms, 1),
          **{f"{name}_task_ms": round(ms[name], 1) for name in variants},
          **{f"{name}_adds_ms": round(ms[name] - plain_ms, 1) for name in variants},
          "plain_task_cpu_ms": round(cpu_ms["plain"], 1), "plain_task_own_ms": round(own_ms["plain"], 1),
          **{f"{name}_adds_task_cpu_ms": round(cpu_ms[name] - cpu_ms["plain"], 1) for name in stores},
          **{f"{name}_adds_task_own_ms": round(own_ms[name] - own_ms["plain"], 1) for name in stores},
          **{f"{name}_outside_ms": round(statistics.median(values), 1) for name, values in outside.items()},
          **{f"ratio_{name}_vs_plain": round(ms[name] / plain_ms, 2) for name in variants}})


def kfp_own_cache(local: object, pipeline: object) -> float:
    """KFP's own cache on kfp.local (``enable_caching=True``, kfp >= 2.17): the same one-task pipeline after a first
    run filled it. A KFP cache hit starts no task process at all (and records no run, verifies nothing)."""
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(HOME / "root-kfp-cache"),  # type: ignore[attr-defined]
               enable_caching=True)
    os.environ.pop("LINEAGE_STORE_URL", None)
    assert pipeline().output == 42  # type: ignore[operator]
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        assert pipeline().output == 42  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    main()
