"""Cold start: `import lineage_core`, `lineage --help`, a cache hit in a fresh process, and importing the peers.

The fresh-process hit is what a KFP pod or a process-per-task Airflow worker pays per task: import lineage-core,
open the store, capture the environment, key, look up, verify and record (median of fresh processes, minus a bare
``python -c pass``). It is measured twice in the same run: as the cache path opens the store now (the hit path on
sqlite3) and with the store opened as before (the SQL store, importing SQLAlchemy), so the before/after ratio is
taken under the same load.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, emit, peer_python

STEP = "from lineage_core import cached\n\n\n@cached\ndef add(a: int, b: int) -> int:\n    return a + b\n"
HIT = "import bench_cold_steps as s\nassert s.add(20, 22) == 42\n"
SQL_STORE = ("from lineage_core import runtime, settings\nfrom lineage_core.store import Store\n"
             "def _sql(s):\n    with settings.use(s):\n"
             "        return Store.from_url(s.resolved_store_url, s.resolved_artifacts_url)\n"
             "runtime.open_store = _sql\n")
CHECK = ("import sys\nfrom lineage_core import explain\nassert explain(s.add).hit\n"
         "print(' '.join(m for m in ('sqlalchemy', 'fsspec', 'numpy', 'pandas', 'requests') if m in sys.modules))\n")


def cold(cmd: list[str], n: int = 7, env: dict[str, str] | None = None) -> float:
    subprocess.run(cmd, capture_output=True, check=True, env=env)  # warm the page cache
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, env=env)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def fresh_hits(py: str, base: float) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    (home / "bench_cold_steps.py").write_text(STEP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINEAGE_", "OPENLINEAGE"))}
    env.update(LINEAGE_HOME=str(home / "lineage"), PYTHONPATH=os.pathsep.join([str(home), str(ROOT)]))
    subprocess.run([py, "-c", HIT], check=True, env=env, cwd=home)  # the miss that fills the store
    loaded = subprocess.run([py, "-c", HIT + CHECK], check=True, env=env, cwd=home, capture_output=True,
                            text=True).stdout.split()
    return {"fresh_hit_ms": cold([py, "-c", HIT], env=env) - base,
            "fresh_hit_sql_store_ms": cold([py, "-c", SQL_STORE + HIT], env=env) - base,
            "fresh_hit_imports": loaded}


def main() -> None:
    # Every fresh process reads bytecode, as an installed package's does (pip compiles on install): with
    # PYTHONDONTWRITEBYTECODE set each would compile the checkout's modules from source. cold()'s first, unmeasured
    # run writes it into this run's own prefix, not into the checkout.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-cold-pycache-")
    py = sys.executable
    base = cold([py, "-c", "pass"])
    result: dict[str, object] = {
        "bench": "startup",
        "python_ms": base,
        "import_lineage_core_ms": cold([py, "-c", "import lineage_core"]) - base,
        "import_cached_ms": cold([py, "-c", "from lineage_core import cached"]) - base,
        "lineage_help_ms": cold([str(Path(py).with_name("lineage")), "--help"]),
        **fresh_hits(py, base),
    }
    for peer, mod in (("prefect", "prefect"), ("zenml", "zenml")):
        ppy = peer_python(peer)
        if ppy:
            result[f"import_{peer}_ms"] = cold([str(ppy), "-c", f"import {mod}"], n=3) - base
    emit(result)


if __name__ == "__main__":
    main()
