"""Prefect 3: per-task cost of a cache hit (INPUTS + TASK_SOURCE, persisted results), and per flow run."""

import json
import os
import statistics
import tempfile
import time

home = tempfile.mkdtemp(prefix="bench-prefect-")
os.environ.setdefault("PREFECT_HOME", home)
os.environ.setdefault("PREFECT_LOCAL_STORAGE_PATH", os.path.join(home, "storage"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
t_import = time.perf_counter()
from prefect import flow, task  # noqa: E402
from prefect.cache_policies import INPUTS, TASK_SOURCE  # noqa: E402

import_s = time.perf_counter() - t_import
N = 100


@task(cache_policy=INPUTS + TASK_SOURCE, persist_result=True)
def add(a: int, b: int) -> int:
    return a + b


@flow
def many(n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        add(1, 2)
        out.append(time.perf_counter() - t)
    return out


@flow
def empty() -> None:
    return None


many(1)  # populate the cache (and start the ephemeral server)
samples = many(N)
t = time.perf_counter()
empty()
flow_s = time.perf_counter() - t
import prefect  # noqa: E402

print(json.dumps({"version": prefect.__version__, "hit_ms": statistics.median(samples) * 1000,
                  "flow_run_s": flow_s, "import_s": import_s}))
