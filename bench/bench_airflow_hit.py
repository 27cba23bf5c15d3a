"""Overhead of a cache-hit task inside Airflow: a CachedPythonOperator that hits vs the same callable in a
plain PythonOperator, both in one real DAG run by ``dag.test()`` (target: the hit adds ≤ 20 ms to execute).

Run with the Airflow venv: ``.venv-airflow/bin/python bench/bench_airflow_hit.py``. Execute time is taken
by the operators' own ``pre_execute`` / ``post_execute`` hooks (immediately around ``execute``); the
whole task (runner, XCom, the OpenLineage listener) is reported too, from the task instances' durations.

Warm: repeated runs in one process. Cold: the first run in a fresh process, what a worker that starts a process
per task pays for us: importing the provider and lineage-core wherever Airflow loads them (its providers manager
while it starts, the DAG file at parse), then the first hit's ``execute`` (opening the store, capturing the
environment, the hit). ``cold_import_ms`` is timed inside that process around every ``lineage_*`` module's
execution, through ``import`` or ``importlib`` alike (``-X importtime``, used before, misses the latter), less the
Airflow modules first loaded from inside ours (the DAG would load them anyway) and less what the cached task's
``execute`` imports (its own figure contains that); ``cold_import_cpu_ms`` and ``cold_execute_hit_cpu_ms`` are
the same on the thread's CPU clock (for a loaded machine).
The fresh processes read bytecode, as an installed worker does (see ``main``).

The garbage collector is counted apart. Airflow's heap in such a process is large (about a second of collections
per process on 2 cores), and a full collection runs when what survived since the last one exceeds a quarter of
it, in whichever code allocates at that moment. When that is our import, one pause (~80 ms here) lands in our
figure by position, not by our cost: the process without us would pay it a moment later. So:

* ``cold_first_hit_ms``, the figure the ≤ 15 ms target is about: our import + the first hit's ``execute``, less
  the collector's pauses inside them, which are reported beside it (``cold_import_gc_ms``,
  ``cold_execute_hit_gc_ms``, ``cold_full_gcs_in_ours``) and included in ``cold_first_hit_total_ms``;
  ``cold_process_gc_ms`` is all the process's collections.
* ``cold_frozen_*``: the same, with Airflow's heap frozen (``gc.freeze()``) once its core is imported and before
  the DAG file is parsed, as a LocalExecutor task process has it: the executor calls ``gc.freeze()`` before
  forking its workers, and the task SDK's supervisor forks the task process from one (a bare ``os.fork``, no GC
  tuning of its own), so a full collection there does not walk that heap. A KubernetesExecutor pod's task process
  forks from ``execute_workload`` in a fresh interpreter that froze nothing (nor does any installed provider or the
  task SDK; a Celery worker's is not checked here, its provider not being installed): the unfrozen figures.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, machine

HOME = Path(sys.argv[2]) if sys.argv[1:2] == ["--cold"] else Path(tempfile.mkdtemp(prefix="bench-airflow-"))
TIMES = HOME / "execute.jsonl"
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "5"))
DAG = textwrap.dedent(f'''
    import datetime as dt, json, time
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.python import PythonOperator
    from lineage_airflow import CachedPythonOperator

    _started = {{}}

    def _pre(context):
        _started[context["ti"].task_id] = time.perf_counter(), time.thread_time()

    def _post(context, result):
        wall, cpu = _started.pop(context["ti"].task_id)
        ms, cpu_ms = (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000
        with open({str(TIMES)!r}, "a") as f:
            f.write(json.dumps({{"task": context["ti"].task_id, "ms": ms, "cpu_ms": cpu_ms}}) + "\\n")

    def features(rows: int = 2000) -> list:
        return [i * 0.5 for i in range(rows)]

    with DAG("bench_hit", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False):
        PythonOperator(task_id="plain", python_callable=features, pre_execute=_pre, post_execute=_post)
        CachedPythonOperator(task_id="cached", python_callable=features, pre_execute=_pre, post_execute=_post)
''')


def configure() -> None:
    os.environ.update({"AIRFLOW_HOME": str(HOME), "AIRFLOW__CORE__DAGS_FOLDER": str(HOME / "dags"),
                       "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "LINEAGE_HOME": str(HOME / "lineage"),
                       "AIRFLOW__OPENLINEAGE__DISABLED": "True"})


def execute_times(clock: str = "ms") -> dict[str, list[float]]:
    """Each task's execute times, wall (``ms``) or the thread's CPU (``cpu_ms``)."""
    execute: dict[str, list[float]] = {"plain": [], "cached": []}
    for line in TIMES.read_text().splitlines():
        row = json.loads(line)
        execute[row["task"]].append(row[clock])
    return execute


class ImportClock:
    """Our import cost in this process, complete: times every ``lineage_*`` module's execution (``exec_module``,
    wherever Airflow loads it, through ``import`` or ``importlib``; ``-X importtime`` sees only the former) less
    the Airflow modules first loaded from inside ours, wall and this thread's CPU, and the collector's pauses
    (``gc.callbacks``) that fell inside it. Imports made while the cached task executes are left to the execute
    figure, which contains them. Also the pauses inside that execute, and every pause of the process."""

    def __init__(self) -> None:
        self.stack: list[bool] = []  # per module being executed: ours (lineage_*) or Airflow's
        self.wall = self.cpu = 0.0
        self._since = (0.0, 0.0)
        self.gc_ms = {"import": 0.0, "execute": 0.0, "process": 0.0}
        self.full_gcs = {"import": 0, "execute": 0, "process": 0}
        self._gc_start = 0.0
        self._gc_where = ""

    def ours(self) -> bool:
        return bool(self.stack) and self.stack[-1]

    def enter(self, mine: bool) -> None:
        before = self.ours()
        self.stack.append(mine)
        if self.ours() != before:
            self._switch(self.ours())

    def leave(self) -> None:
        before = self.ours()
        self.stack.pop()
        if self.ours() != before:
            self._switch(self.ours())

    def _switch(self, to_ours: bool) -> None:
        if to_ours:
            self._since = (time.perf_counter(), time.thread_time())
        else:
            self.wall += time.perf_counter() - self._since[0]
            self.cpu += time.thread_time() - self._since[1]

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_where = "import" if self.ours() else "execute" if _executing() else ""
            self._gc_start = time.perf_counter()
            return
        ms = (time.perf_counter() - self._gc_start) * 1000
        for where in ("process", self._gc_where):
            if where:
                self.gc_ms[where] += ms
                self.full_gcs[where] += info["generation"] == 2


OPERATORS = "lineage_airflow.operators"


def _executing() -> bool:
    """Whether the cached task's ``execute_callable`` is on this thread's stack."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "execute_callable" and frame.f_globals.get("__name__") == OPERATORS:
            return True
        frame = frame.f_back
    return False

class _TimedLoader:
    """A module's own loader, its ``exec_module`` inside the clock."""

    def __init__(self, loader: Any, clock: ImportClock, mine: bool) -> None:
        self._loader, self._clock, self._mine = loader, clock, mine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._clock.enter(self._mine)
        try:
            self._loader.exec_module(module)
        finally:
            self._clock.leave()


class _ClockFinder:
    """First on ``sys.meta_path``: finds with the other finders and times what they load that is ours (and the
    Airflow modules first loaded from ours)."""

    def __init__(self, clock: ImportClock) -> None:
        self.clock = clock

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        mine = name.startswith("lineage_")
        if not (mine or (name.startswith("airflow") and self.clock.stack)):
            return None
        if mine and not self.clock.stack and _executing():
            return None  # loaded by the cached task's execute, which its own figure contains
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _TimedLoader(spec.loader, self.clock, mine)
                    return spec
        return None


def cold() -> None:
    """One DAG run in this fresh process (the store already holds the cached value). With ``BENCH_GC_FREEZE=1``,
    Airflow's heap is frozen (``gc.freeze()``) once its core is imported, before the DAG file is parsed: what a
    LocalExecutor task process inherits (the executor freezes the scheduler's heap before forking its workers, and
    the supervisor forks the task process from those)."""
    import gc

    clock = ImportClock()
    gc.callbacks.append(clock.on_gc)
    sys.meta_path.insert(0, _ClockFinder(clock))
    configure()
    from airflow.dag_processing.dagbag import DagBag

    if os.environ.get("BENCH_GC_FREEZE") == "1":
        gc.freeze()
    TIMES.unlink(missing_ok=True)
    assert DagBag(str(HOME / "dags")).get_dag("bench_hit").test().state == "success"
    emit({**{k: v[0] for k, v in execute_times().items()}, "cached_cpu_ms": execute_times("cpu_ms")["cached"][0],
          "import_ms": clock.wall * 1000,
          "import_cpu_ms": clock.cpu * 1000, "import_gc_ms": clock.gc_ms["import"],
          "execute_gc_ms": clock.gc_ms["execute"], "process_gc_ms": clock.gc_ms["process"],
          "import_full_gcs": clock.full_gcs["import"], "execute_full_gcs": clock.full_gcs["execute"],
          "process_full_gcs": clock.full_gcs["process"]})


def main() -> None:
    import subprocess

    runs = int(os.environ.get("BENCH_N", "15"))
    (HOME / "dags").mkdir()
    (HOME / "dags" / "bench_hit.py").write_text(DAG)
    configure()
    import airflow
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.initdb()
    dag = DagBag(str(HOME / "dags")).get_dag("bench_hit")
    dag.test()  # warm-up: the cached task misses and stores its value
    TIMES.unlink()
    task_ms: dict[str, list[float]] = {"plain": [], "cached": []}
    for _ in range(runs):
        dag_run = dag.test()
        assert dag_run.state == "success"
        for ti in dag_run.get_task_instances():
            task_ms[ti.task_id].append((ti.end_date - ti.start_date).total_seconds() * 1000)
    execute = execute_times()
    # The fresh processes use bytecode, as a worker's installed packages do (pip compiles on install): with
    # PYTHONDONTWRITEBYTECODE set, each would compile the checkout's modules (ours) from source. Written by one
    # discarded cold run into this run's own prefix (not into the checkout).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(HOME / "pycache")
    colds: dict[str, list[dict[str, float]]] = {"0": [], "1": []}
    for i in range(COLD_RUNS + 1):
        for freeze in colds:  # interleaved, so that the machine's load falls on both alike
            out = subprocess.run([sys.executable, __file__, "--cold", str(HOME)], capture_output=True, text=True,
                                 check=True, env={**env, "BENCH_GC_FREEZE": freeze})
            if i:
                colds[freeze].append(json.loads(out.stdout.strip().splitlines()[-1]))
    from lineage_core.runtime import default_store

    statuses = {r["status"] for r in default_store().runs(job="bench_hit.cached", limit=runs)}
    assert statuses == {"CACHED"}, statuses  # every measured run was a hit
    med = {k: statistics.median(v) for k, v in execute.items()}
    task = {k: statistics.median(v) for k, v in task_ms.items()}
    emit({"bench": "airflow_hit_task", "runs": runs, "airflow": airflow.__version__, "machine": machine(),
          "execute_plain_ms": round(med["plain"], 2), "execute_hit_ms": round(med["cached"], 2),
          "hit_overhead_ms": round(med["cached"] - med["plain"], 2),
          "task_plain_ms": round(task["plain"], 1), "task_hit_ms": round(task["cached"], 1),
          **cold_figures(colds["0"], ""), **cold_figures(colds["1"], "frozen_")})


def cold_figures(runs: list[dict[str, float]], prefix: str) -> dict[str, float]:
    """Medians over the fresh processes. ``cold_first_hit_ms`` (the figure the target is about) is our import's
    and the first hit's own work: the collector's pauses that fell inside them are reported beside it
    (``..._gc_ms``), not in it (see the module docstring); ``cold_first_hit_total_ms`` is the same with them."""
    def med(f: Callable[[dict[str, float]], float]) -> float:
        return round(statistics.median(f(c) for c in runs), 2)

    p = f"cold_{prefix}"
    return {f"{p}execute_plain_ms": med(lambda c: c["plain"]), f"{p}execute_hit_ms": med(lambda c: c["cached"]),
            f"{p}execute_hit_cpu_ms": med(lambda c: c["cached_cpu_ms"]),
            f"{p}execute_hit_gc_ms": med(lambda c: c["execute_gc_ms"]),
            f"{p}import_ms": med(lambda c: c["import_ms"]), f"{p}import_cpu_ms": med(lambda c: c["import_cpu_ms"]),
            f"{p}import_gc_ms": med(lambda c: c["import_gc_ms"]),
            f"{p}first_hit_ms": med(lambda c: c["import_ms"] - c["import_gc_ms"] + c["cached"] - c["execute_gc_ms"]),
            f"{p}first_hit_total_ms": med(lambda c: c["import_ms"] + c["cached"]),
            f"{p}full_gcs_in_ours": med(lambda c: c["import_full_gcs"] + c["execute_full_gcs"]),
            f"{p}process_gc_ms": med(lambda c: c["process_gc_ms"])}


if __name__ == "__main__":
    cold() if sys.argv[1:2] == ["--cold"] else main()
