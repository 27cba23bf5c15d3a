"""Overhead of a cache-hit task inside Airflow: a CachedPythonOperator that hits vs the same callable in a
plain PythonOperator, both in one real DAG run by ``dag.test()`` (target: the hit adds ≤ 20 ms to execute).

Run with the Airflow venv: ``.venv-airflow/bin/python bench/bench_airflow_hit.py``. Execute time is taken
by the operators' own ``pre_execute`` / ``post_execute`` hooks (immediately around ``execute``); the
whole task (runner, XCom, the OpenLineage listener) is reported too, from the task instances' durations.
Warm: repeated runs in one process. Cold: the first run in a fresh process (what a worker that starts a
process per task pays: importing lineage-core, opening the store, capturing the environment); ``cold_import_ms`` is
what importing our modules cost that process (``-X importtime``: the provider and lineage-core, wherever Airflow
loads them), and ``cold_first_hit_total_ms`` that plus the first hit's ``execute``. The fresh processes read
bytecode, as an installed worker does (see ``main``).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

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
        _started[context["ti"].task_id] = time.perf_counter()

    def _post(context, result):
        ms = (time.perf_counter() - _started.pop(context["ti"].task_id)) * 1000
        with open({str(TIMES)!r}, "a") as f:
            f.write(json.dumps({{"task": context["ti"].task_id, "ms": ms}}) + "\\n")

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


def execute_times() -> dict[str, list[float]]:
    execute: dict[str, list[float]] = {"plain": [], "cached": []}
    for line in TIMES.read_text().splitlines():
        row = json.loads(line)
        execute[row["task"]].append(row["ms"])
    return execute


def cold() -> None:
    """One DAG run in this fresh process (the store already holds the cached value)."""
    configure()
    from airflow.dag_processing.dagbag import DagBag

    TIMES.unlink(missing_ok=True)
    assert DagBag(str(HOME / "dags")).get_dag("bench_hit").test().state == "success"
    emit({k: v[0] for k, v in execute_times().items()})


def our_import_ms(importtime: str) -> float:
    """What importing our modules cost the process, from ``-X importtime``: the cumulative time of every
    ``lineage_*`` import that no other ``lineage_*`` import contains (Airflow may load the provider while it starts,
    before the DAG file is parsed: wherever it happens, it is counted once), less the Airflow modules first imported
    from inside them."""
    rows = []
    for line in importtime.splitlines():
        if line.startswith("import time:") and "|" in line and "[us]" not in line:
            _, cumulative, name = line.split("|")
            rows.append((len(name) - len(name.lstrip()), int(cumulative), name.strip()))
    ancestry = []
    for i, (depth, _, _) in enumerate(rows):
        ancestors, want = [], depth  # children come before their parent, which is the next shallower row
        for d, _, n in rows[i + 1:]:
            if d < want:
                ancestors.append(n)
                want = d
        ancestry.append(ancestors)
    total = 0
    for (_, cumulative, name), ancestors in zip(rows, ancestry, strict=True):
        ours = name.startswith("lineage_") and not any(a.startswith("lineage_") for a in ancestors)
        # Airflow's own modules first imported from ours (the DAG file would import them anyway) are not ours.
        theirs = name.startswith("airflow") and not any(a.startswith("airflow") for a in ancestors) and any(
            a.startswith("lineage_") for a in ancestors)
        total += cumulative if ours else -cumulative if theirs else 0
    return total / 1000


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
    colds = []
    for i in range(COLD_RUNS + 1):
        out = subprocess.run([sys.executable, "-X", "importtime", __file__, "--cold", str(HOME)], capture_output=True,
                             text=True, check=True, env=env)
        if i:
            colds.append({**json.loads(out.stdout.strip().splitlines()[-1]), "import_ms": our_import_ms(out.stderr)})
    from lineage_core.runtime import default_store

    statuses = {r["status"] for r in default_store().runs(job="bench_hit.cached", limit=runs)}
    assert statuses == {"CACHED"}, statuses  # every measured run was a hit
    med = {k: statistics.median(v) for k, v in execute.items()}
    task = {k: statistics.median(v) for k, v in task_ms.items()}
    emit({"bench": "airflow_hit_task", "runs": runs, "airflow": airflow.__version__, "machine": machine(),
          "execute_plain_ms": round(med["plain"], 2), "execute_hit_ms": round(med["cached"], 2),
          "hit_overhead_ms": round(med["cached"] - med["plain"], 2),
          "task_plain_ms": round(task["plain"], 1), "task_hit_ms": round(task["cached"], 1),
          "cold_execute_plain_ms": round(statistics.median(c["plain"] for c in colds), 2),
          "cold_execute_hit_ms": round(statistics.median(c["cached"] for c in colds), 2),
          "cold_import_ms": round(statistics.median(c["import_ms"] for c in colds), 2),
          "cold_first_hit_total_ms": round(statistics.median(c["import_ms"] + c["cached"] for c in colds), 2)})


if __name__ == "__main__":
    cold() if sys.argv[1:2] == ["--cold"] else main()
