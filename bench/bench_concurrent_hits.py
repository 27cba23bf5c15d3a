"""Hit-path latency and throughput with 16 concurrent processes sharing one store.

PostgreSQL (a throwaway cluster started here, as the tests do) and, for reference, the embedded SQLite
file. Every process calls a cached step over 200 pre-computed keys, in its own order, for a fixed
number of calls; every call is a hit that also records a CACHED run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from common import emit  # noqa: E402

from tests.services.postgres import PostgresServer  # noqa: E402

PROCS, CALLS, KEYS = 16, 300, 200

WORKER = textwrap.dedent('''
    import json, os, random, statistics, sys, time
    sys.path.insert(0, sys.argv[1])
    import steps
    rng = random.Random(int(sys.argv[2]))
    start = float(sys.argv[3])
    while time.time() < start:
        time.sleep(0.001)
    lat = []
    t0 = time.perf_counter()
    for _ in range(int(sys.argv[4])):
        x = rng.randrange(int(sys.argv[5]))
        t = time.perf_counter()
        steps.square(x)
        lat.append(time.perf_counter() - t)
    print(json.dumps({"wall": time.perf_counter() - t0, "lat": lat}))
''')

STEPS = textwrap.dedent("""
    from lineage_core import cached

    @cached(name="bench.square")
    def square(x: int) -> int:
        return x * x
""")


def run(url: str, work: Path) -> dict[str, float]:
    env = {**os.environ, "LINEAGE_STORE_URL": url, "LINEAGE_HOME": str(work / "home")}
    populate = f"import sys; sys.path.insert(0, {str(work)!r}); import steps\nfor x in range({KEYS}): steps.square(x)"
    subprocess.run([sys.executable, "-c", populate], env=env, check=True)
    start = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(work), str(i), str(start), str(CALLS), str(KEYS)],
                              env=env, stdout=subprocess.PIPE, text=True) for i in range(PROCS)]
    outs = [json.loads(p.communicate()[0]) for p in procs]
    lat = sorted(x for o in outs for x in o["lat"])
    wall = max(o["wall"] for o in outs)
    return {"p50_ms": statistics.median(lat) * 1000, "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
            "calls_per_s": PROCS * CALLS / wall}


def main() -> None:
    result: dict[str, object] = {"bench": "concurrent_hits", "processes": PROCS, "calls_each": CALLS}
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        (work / "steps.py").write_text(STEPS)
        result["sqlite"] = run(f"sqlite:///{work}/lineage.db", work)
    server = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory() as d:
            work = Path(d)
            (work / "steps.py").write_text(STEPS)
            result["postgresql"] = run(server.create_database(), work)
    finally:
        server.stop()
    emit(result)


if __name__ == "__main__":
    main()
