"""ZenML: wall time of an all-cached pipeline run divided by its number of steps, and per run."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

if not os.environ.get("BENCH_ZENML_ROOT"):
    # ZenML resolves steps by source root: run a copy of this file from inside a fresh repository.
    root = tempfile.mkdtemp(prefix="bench-zenml-")
    env = {**os.environ, "BENCH_ZENML_ROOT": root, "ZENML_CONFIG_PATH": os.path.join(root, "config"),
           "ZENML_ANALYTICS_OPT_IN": "false", "ZENML_LOGGING_VERBOSITY": "ERROR", "AUTO_OPEN_DASHBOARD": "false"}
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "zenml"), "init"], check=True,
                   capture_output=True, cwd=root, env=env)
    shutil.copy(__file__, os.path.join(root, "zenml_hits.py"))
    sys.exit(subprocess.run([sys.executable, "zenml_hits.py"], cwd=root, env=env).returncode)
t_import = time.perf_counter()
from zenml import pipeline, step  # noqa: E402

import_s = time.perf_counter() - t_import
K = 10


@step(enable_cache=True)
def add(a: int, b: int) -> int:
    return a + b


@pipeline(enable_cache=True)
def chain() -> None:
    x = add(1, 2)
    for _ in range(K - 1):
        x = add(x, 0)


@pipeline(enable_cache=True)
def single() -> None:
    add(1, 2)


chain()
single()
t = time.perf_counter()
chain()
chain_s = time.perf_counter() - t
t = time.perf_counter()
single()
single_s = time.perf_counter() - t
import zenml  # noqa: E402

print(json.dumps({"version": zenml.__version__, "hit_ms": chain_s / K * 1000,
                  "marginal_hit_ms": (chain_s - single_s) / (K - 1) * 1000, "run_s": single_s, "import_s": import_s}))
