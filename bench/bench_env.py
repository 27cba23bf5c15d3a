"""Environment capture cost in a fresh process (distributions, git, GPU probe, env vars)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, peer_python

CODE = """
import time, json
from lineage_core.environment import capture_environment
t = time.perf_counter(); env = capture_environment(); first = time.perf_counter() - t
t = time.perf_counter(); capture_environment(); again = time.perf_counter() - t
print(json.dumps({"first_ms": first * 1000, "again_ms": again * 1000, "distributions": len(env.packages)}))
"""


def main() -> None:
    # The Airflow worker venv (bench/setup_peers.sh) has ~160 distributions, the core venv ~95.
    py = str(peer_python("env300") or sys.executable)
    runs = [json.loads(subprocess.run([py, "-c", CODE], capture_output=True, text=True, check=True,
                                      cwd=Path(__file__).resolve().parent.parent).stdout) for _ in range(5)]
    emit({"bench": "environment", "capture_ms": statistics.median(r["first_ms"] for r in runs),
          "capture_again_ms": statistics.median(r["again_ms"] for r in runs),
          "distributions": runs[0]["distributions"]})


if __name__ == "__main__":
    main()
